import type { Topics } from '../protocol/topics.js';
import { within } from './calls.js';
import type { Channel, Emit } from './channel.js';
import { ERROR_CODE, failure, isFinalRefusal } from './errors.js';
import { connAnnouncement, gracefulOffline, newEpoch } from './payloads.js';
import type { Transport, TransportFactory } from './transport.js';
import type { ConnectionStatus, UserData } from './types.js';

/** Who connects where, and the timings; checked by connect-options.ts. */
export interface ConnectionSettings {
  url: string;
  userId: string;
  clientId: string;
  password?: string;
  keepaliveSeconds: number;
  /** 0 turns reconnection off. */
  reconnectPeriodMs: number;
  /** The CONNECT timeout and every operation's acknowledgement timeout. */
  timeoutMs: number;
  topics: Topics;
  transport: TransportFactory;
}

/** What the connection needs of the client around it. */
export interface ConnectionHooks {
  /** The user's latest data: every will, birth and offline announcement carries it. */
  data(): UserData;
  /** Restored, in this order, after the birth of every reconnect; each hears the link go. */
  channels: readonly Channel[];
  /**
   * Restored alongside the first birth (the query channel's reply topic), so queries work as soon as
   * connect() resolves; the other channels hold nothing yet then.
   */
  openWith: Channel;
  message(topic: string, payload: Uint8Array, retained: boolean): void;
  /** `CONNECTION` events. */
  emit: Emit;
  /** A failure with no call to hand it to, as an `ERROR` event. */
  report(error: unknown): void;
}

/**
 * The client's connection lifecycle: `connecting` until the first CONNACK and its birth, then
 * `connected`, `reconnecting` while the link is down, `disconnected` at the end. mqtt.js does the
 * retrying itself (every `reconnectPeriodMs`, keepalive, CONNECT timeout); this adds the announcement
 * protocol on top: a will with a fresh epoch in every CONNECT, the birth with that epoch after every
 * CONNACK, then the channels' subscriptions in order; the offline announcement before a graceful
 * DISCONNECT; and a stop on a refusal that retrying cannot fix. Why mqtt.js's own `resubscribe` is not
 * used: docs/architecture.md "src/client".
 */
export class Connection {
  private transport: Transport | undefined;
  private currentEpoch = '';
  private currentStatus: ConnectionStatus | 'connecting' = 'connecting';
  private ending = false;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly hooks: ConnectionHooks,
  ) {}

  get status(): ConnectionStatus | 'connecting' {
    return this.currentStatus;
  }

  /** The current connection's epoch (its will's and birth's). */
  get epoch(): string {
    return this.currentEpoch;
  }

  /** Opens the first connection: resolves after CONNACK and the birth, rejects on the first failure. */
  async open(): Promise<void> {
    const { url, clientId, userId, password, keepaliveSeconds, reconnectPeriodMs, timeoutMs } = this.settings;
    let settled = false;
    let resolveOpen!: () => void;
    let rejectOpen!: (error: unknown) => void;
    const opened = new Promise<void>((resolve, reject) => {
      resolveOpen = resolve;
      rejectOpen = reject;
    });
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      this.ending = true;
      this.transport?.destroy();
      this.currentStatus = 'disconnected';
      rejectOpen(error);
    };
    this.transport = this.settings.transport(
      {
        url,
        clientId,
        username: userId,
        password,
        keepaliveSeconds,
        reconnectPeriodMs,
        connectTimeoutMs: timeoutMs,
        will: () => {
          this.currentEpoch = newEpoch();
          return { topic: this.ownTopic(), payload: connAnnouncement('offline', this.hooks.data(), this.currentEpoch), qos: 1, retain: true };
        },
      },
      {
        connected: () => {
          if (!settled) {
            Promise.all([this.announceBirth(), this.hooks.openWith.resume()]).then(() => {
              if (settled) return;
              settled = true;
              this.setStatus('connected');
              resolveOpen();
            }, fail);
          } else if (!this.ending) {
            void this.resume();
          }
        },
        connectionLost: () => {
          if (!settled) return fail(failure(ERROR_CODE.UNREACHABLE, 'the server closed the connection before accepting it'));
          if (this.ending) return;
          for (const channel of this.hooks.channels) channel.connectionLost?.();
          this.setStatus(reconnectPeriodMs === 0 ? 'disconnected' : 'reconnecting');
        },
        error: (error) => {
          if (!settled) return fail(error);
          if (this.ending) return;
          this.hooks.report(error);
          if (isFinalRefusal(error)) {
            // Refused on a reconnect for good (credentials changed, id banned): stop trying.
            this.ending = true;
            this.transport?.destroy();
            this.setStatus('disconnected');
          }
        },
        message: (topic, payload, retained) => this.hooks.message(topic, payload, retained),
      },
    );
    await within(opened, timeoutMs, () => failure(ERROR_CODE.TIMEOUT, `no CONNACK from ${url} within ${timeoutMs} ms`)).catch((error: unknown) => {
      fail(error);
      throw error;
    });
  }

  /**
   * Announces the offline (same epoch), then DISCONNECTs; each step waits at most the timeout and
   * neither fails the call. Does nothing the second time, or before open().
   */
  async close(): Promise<void> {
    const transport = this.transport;
    if (this.ending || !transport) return;
    this.ending = true;
    const { timeoutMs } = this.settings;
    if (transport.connected) {
      const offline = gracefulOffline(this.hooks.data(), this.currentEpoch);
      await within(transport.publish(this.ownTopic(), offline, { qos: 1, retain: true }), timeoutMs, () =>
        failure(ERROR_CODE.TIMEOUT, 'the offline announcement was not acknowledged in time'),
      ).catch(() => {});
      await within(transport.end(), timeoutMs, () => failure(ERROR_CODE.TIMEOUT, 'DISCONNECT did not complete')).catch(() => {});
    }
    transport.destroy();
    for (const channel of this.hooks.channels) channel.connectionLost?.();
    this.setStatus('disconnected');
  }

  /**
   * Runs a transport operation on the current connection: NOT_CONNECTED when there is none
   * (reconnecting, or disconnected), TIMEOUT when it is not acknowledged within the timeout.
   */
  io<T>(what: string, operation: (transport: Transport) => Promise<T>): Promise<T> {
    const transport = this.transport;
    const { timeoutMs } = this.settings;
    if (!transport || !transport.connected || this.ending) {
      const state = this.ending || this.currentStatus === 'disconnected' ? 'disconnected' : 'reconnecting';
      return Promise.reject(failure(ERROR_CODE.NOT_CONNECTED, `cannot ${what}: the client is ${state}`));
    }
    return within(operation(transport), timeoutMs, () => failure(ERROR_CODE.TIMEOUT, `${what} was not acknowledged within ${timeoutMs} ms`));
  }

  /** After a reconnect: the birth (new epoch), then every channel restores its subscriptions. */
  private async resume(): Promise<void> {
    try {
      await this.announceBirth();
      for (const channel of this.hooks.channels) await channel.resume();
      if (!this.ending) this.setStatus('connected');
    } catch (error) {
      // Lost again mid-way: the next CONNACK resumes from the start.
      if (this.transport?.connected) this.hooks.report(error);
    }
  }

  private announceBirth(): Promise<void> {
    const birth = connAnnouncement('online', this.hooks.data(), this.currentEpoch);
    return this.io('publish', (t) => t.publish(this.ownTopic(), birth, { qos: 1, retain: true }));
  }

  /** `presence/conn/<user>/<clientId>`: this connection's will, birth, updates and offline. */
  private ownTopic(): string {
    return this.settings.topics.conn(this.settings.userId, this.settings.clientId);
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.currentStatus === status) return;
    this.currentStatus = status;
    this.hooks.emit('CONNECTION', { status });
  }
}
