// A minimal MQTT 3.1.1 client on raw sockets (mqtt-packet), so the load generator spends its CPU on
// the broker under test rather than on client bookkeeping. Same code drives the product and the anchors.
import { connect as tcpConnect } from 'node:net';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt-packet';

const OPTS = { protocolVersion: 4 };

export class Conn {
  constructor(socket) {
    this.socket = socket;
    this.nextId = 1;
    this.pending = new Map(); // messageId -> resolve (SUBACK / PUBACK)
    this.onMessage = null; // (topic, payload, receivedAt) => void
    this.closed = new Promise((resolve) => socket.once('close', resolve));
    this.parser = mqtt.parser(OPTS);
    this.parser.on('packet', (packet) => this.handle(packet));
    this.parser.on('error', (error) => socket.destroy(error));
    socket.on('data', (chunk) => this.parser.parse(chunk));
    socket.on('error', () => {});
  }

  handle(packet) {
    switch (packet.cmd) {
      case 'connack':
        this.connackAt = performance.now();
        this.onConnack?.(packet);
        break;
      case 'publish': {
        const at = performance.now();
        if (packet.qos === 1) this.write({ cmd: 'puback', messageId: packet.messageId });
        this.onMessage?.(packet.topic, packet.payload, at);
        break;
      }
      case 'suback':
      case 'puback':
      case 'unsuback': {
        const resolve = this.pending.get(packet.messageId);
        this.pending.delete(packet.messageId);
        resolve?.(packet);
        break;
      }
      default:
        break;
    }
  }

  write(packet) {
    if (!this.socket.destroyed) this.socket.write(mqtt.generate(packet, OPTS));
  }

  id() {
    const id = this.nextId;
    this.nextId = id === 65535 ? 1 : id + 1;
    return id;
  }

  subscribe(topics, qos = 1) {
    const messageId = this.id();
    return new Promise((resolve) => {
      this.pending.set(messageId, resolve);
      this.write({ cmd: 'subscribe', messageId, subscriptions: [].concat(topics).map((topic) => ({ topic, qos })) });
    });
  }

  publish(topic, payload, { qos = 1, retain = false } = {}) {
    if (qos === 0) {
      this.write({ cmd: 'publish', topic, payload, qos: 0, retain, dup: false });
      return Promise.resolve();
    }
    const messageId = this.id();
    return new Promise((resolve) => {
      this.pending.set(messageId, resolve);
      this.write({ cmd: 'publish', topic, payload, qos, retain, dup: false, messageId });
    });
  }

  /** Graceful: DISCONNECT then FIN; resolves when the socket is closed. */
  end() {
    this.write({ cmd: 'disconnect' });
    this.socket.end();
    return this.closed;
  }

  /** Abrupt: TCP RST, no DISCONNECT (a network loss as the broker sees it). */
  reset() {
    this.socket.resetAndDestroy();
    return this.closed;
  }
}

/**
 * Connects and resolves on a successful CONNACK. keepalive 0 (off) unless given, so long-lived load
 * clients never need PINGREQs; a silent client is simply one with a keepalive that never pings.
 */
export function connect(port, { clientId, username, password, keepalive = 0, clean = true, will } = {}) {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ port, host: '127.0.0.1', noDelay: true });
    const conn = new Conn(socket);
    const fail = (error) => reject(error instanceof Error ? error : new Error(String(error)));
    socket.once('error', fail);
    socket.once('close', () => fail(new Error(`closed before CONNACK (${clientId})`)));
    conn.onConnack = (packet) => {
      socket.off('error', fail);
      if (packet.returnCode !== 0) {
        socket.destroy();
        fail(new Error(`CONNACK ${packet.returnCode} for ${clientId}`));
      } else resolve(conn);
    };
    socket.once('connect', () => {
      const packet = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive };
      if (username !== undefined) packet.username = username;
      if (password !== undefined) packet.password = Buffer.from(password);
      if (will) packet.will = { qos: 1, retain: false, ...will };
      conn.write(packet);
    });
  });
}

/**
 * The password of every bench user on an authenticating broker (scenario 6: Mosquitto with the
 * project's password file and ACL, where the username is the user id).
 */
export const benchPassword = (user) => `${user}-bench`;

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function pool(n, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

export function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  const round = (v) => (v === null ? null : Math.round(v * 100) / 100);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length ? sorted[sorted.length - 1] : null),
  };
}
