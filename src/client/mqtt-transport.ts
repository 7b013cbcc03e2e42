import mqtt from 'mqtt';
import type { Transport, TransportFactory } from './transport.js';

/**
 * The Transport over mqtt.js (MQTT 3.1.1, clean session). mqtt.js reconnects on its own; just before
 * each attempt it emits `reconnect`, where the next will (with a fresh epoch) is put in place.
 * Subscriptions are restored by the client, not by mqtt.js (`resubscribe: false`), so the client
 * knows what it holds and can report a refused re-subscription.
 */
export const mqttTransport: TransportFactory = (options, listener) => {
  const will = () => {
    const next = options.will();
    return { topic: next.topic, payload: next.payload, qos: next.qos, retain: next.retain };
  };
  const client = mqtt.connect(options.url, {
    clientId: options.clientId,
    username: options.username,
    password: options.password,
    protocolVersion: 4,
    clean: true,
    keepalive: options.keepaliveSeconds,
    reconnectPeriod: options.reconnectPeriodMs,
    connectTimeout: options.connectTimeoutMs,
    resubscribe: false,
    // mqtt.js stops reconnecting after any refused CONNACK; the client decides which refusals are final.
    reconnectOnConnackError: true,
    will: will(),
  });
  // Nagle's algorithm holds a small write back until the previous one is acknowledged, and the peer
  // delays that ACK (~40 ms): a query's PUBLISH waited that long. Every TCP or TLS socket mqtt.js opens,
  // reconnects included, goes out unbuffered. WebSockets (ws in Node) do this themselves; browsers have no such knob.
  const internals = client as unknown as { stream?: unknown; streamBuilder: (c: unknown) => unknown };
  const build = internals.streamBuilder;
  internals.streamBuilder = (c) => noDelay(build(c));
  noDelay(internals.stream);
  let wasConnected = false;
  client.on('reconnect', () => {
    client.options.will = will();
  });
  client.on('connect', () => {
    wasConnected = true;
    listener.connected();
  });
  client.on('close', () => {
    if (!wasConnected) return;
    wasConnected = false;
    listener.connectionLost();
  });
  client.on('error', (error) => listener.error(error));
  client.on('message', (topic, payload, packet) => listener.message(topic, payload, packet.retain));

  const transport: Transport = {
    get connected() {
      return client.connected;
    },
    async subscribe(filters) {
      try {
        const granted = await client.subscribeAsync(filters, { qos: 1 });
        return filters.map((filter) => granted.find((g) => g.topic === filter)?.qos ?? 128);
      } catch (error) {
        // mqtt.js rejects when any filter was refused; the SUBACK it carries says which.
        const granted = (error as { packet?: { cmd?: string; granted?: unknown[] } }).packet;
        if (granted?.cmd !== 'suback') throw error;
        return filters.map((_, i) => (granted.granted?.length === filters.length ? Number(granted.granted[i]) : 128));
      }
    },
    async unsubscribe(filters) {
      await client.unsubscribeAsync(filters);
    },
    async publish(topic, payload, { qos, retain }) {
      await client.publishAsync(topic, payload, { qos, retain });
    },
    async end() {
      await client.endAsync(false);
    },
    destroy() {
      client.end(true);
    },
  };
  return transport;
};

function noDelay<S>(stream: S): S {
  (stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
  return stream;
}
