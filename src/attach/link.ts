import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../log/logger.js';

/** The longest wait between two attempts to reach the broker. */
export const MAX_RECONNECT_MS = 30_000;

/** Doubling delays from `first` up to `max`; `reset` after a success starts over. */
export class Backoff {
  private current = 0;

  constructor(
    private readonly first: number,
    private readonly max: number,
  ) {}

  next(): number {
    this.current = this.current === 0 ? this.first : Math.min(this.current * 2, this.max);
    return this.current;
  }

  reset(): void {
    this.current = 0;
  }
}

export interface LinkOptions {
  broker: string;
  clientId: string;
  username?: string;
  password?: string;
  /** The first retry's delay; later ones double up to MAX_RECONNECT_MS (or this, if larger). */
  reconnectMs: number;
  will: NonNullable<IClientOptions['will']>;
  log: Logger;
  /** True once the bridge is stopping: nothing is logged about the link going away then. */
  closing: () => boolean;
}

/**
 * The bridge's MQTT connection to the broker, which never gives up: a refused CONNACK (a wrong
 * password, a password file reloaded under a running bridge, a broker that is not ready) is retried
 * like a lost link (mqtt.js 5 stops after a refused CONNACK unless `reconnectOnConnackError` is set),
 * with delays doubling from `reconnectMs` to 30 s and starting over after each CONNACK accepted.
 *
 * Logged once per change of state, not once per attempt: `connection to the broker lost; retrying`,
 * `the broker refused the connection; retrying` (warn, with the CONNACK `code`, again only if the
 * reason changes), `broker unreachable; retrying`. Success is logged by the bridge (`connected ...`).
 */
export function connectLink(options: LinkOptions): MqttClient {
  const { log, broker } = options;
  const backoff = new Backoff(options.reconnectMs, Math.max(MAX_RECONNECT_MS, options.reconnectMs));
  const client = connect(broker, {
    clientId: options.clientId,
    username: options.username,
    password: options.password,
    protocolVersion: 4,
    clean: true,
    resubscribe: false,
    reconnectPeriod: options.reconnectMs,
    reconnectOnConnackError: true,
    connectTimeout: 10_000,
    queueQoSZero: false,
    will: options.will,
  });
  /** What the last log line said about the link, so each state is logged once. */
  let state = 'connecting';
  const enter = (next: string, level: 'warn' | 'info', msg: string, fields: Record<string, unknown> = {}) => {
    if (state === next || options.closing()) return;
    state = next;
    log[level](msg, { broker, ...fields });
  };
  client.on('connect', () => {
    backoff.reset();
    client.options.reconnectPeriod = options.reconnectMs;
    state = 'connected';
  });
  client.on('error', (error: Error & { code?: number | string }) => {
    if (typeof error.code === 'number') {
      enter(`refused ${error.code}`, 'warn', 'the broker refused the connection; retrying', { code: error.code, error: error.message });
    } else {
      enter(`error ${error.code ?? error.message}`, 'warn', 'broker unreachable; retrying', { error: error.message });
    }
  });
  client.on('offline', () => {
    if (state === 'connected') enter('lost', 'warn', 'connection to the broker lost; retrying');
  });
  // An attempt that fails schedules the next one from reconnectPeriod: stretch it as each one starts.
  client.on('reconnect', () => {
    client.options.reconnectPeriod = backoff.next();
  });
  return client;
}
