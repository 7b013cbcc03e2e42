/**
 * What the client needs from an MQTT connection, and nothing more. The presence logic is written
 * against this, so it runs the same over mqtt.js in Node and in browsers (mqtt-transport.ts).
 */
export interface Will {
  topic: string;
  payload: string;
  qos: 1;
  retain: true;
}

export interface TransportOptions {
  url: string;
  clientId: string;
  username: string;
  password?: string;
  keepaliveSeconds: number;
  /** 0 turns automatic reconnection off. */
  reconnectPeriodMs: number;
  connectTimeoutMs: number;
  /** Asked before every connection attempt, reconnects included: each connection gets its own will. */
  will: () => Will;
}

export interface TransportListener {
  /** A CONNACK accepted a connection (the first one and every reconnect). */
  connected(): void;
  /** The connection went away; the transport is trying again (unless it was ended). */
  connectionLost(): void;
  /** An error with no call to hand it to: a refused reconnect, a socket error. */
  error(error: unknown): void;
  message(topic: string, payload: Uint8Array, retained: boolean): void;
}

export interface PublishOptions {
  qos: 0 | 1;
  retain: boolean;
}

export interface Transport {
  readonly connected: boolean;
  /** Subscribes at QoS 1; resolves to the granted QoS per filter (128 = refused). */
  subscribe(filters: string[]): Promise<number[]>;
  unsubscribe(filters: string[]): Promise<void>;
  publish(topic: string, payload: string, options: PublishOptions): Promise<void>;
  /** Sends DISCONNECT after what is in flight and stops reconnecting. */
  end(): Promise<void>;
  /** Drops the connection at once, without DISCONNECT (the will is published). */
  destroy(): void;
}

export type TransportFactory = (options: TransportOptions, listener: TransportListener) => Transport;
