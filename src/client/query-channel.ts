import { anything, checker, either, integer, nullValue, shape, string } from '../protocol/guards.js';
import type { ProductTopic } from '../protocol/topics.js';
import { within } from './calls.js';
import { refusedFilters, type Channel, type ChannelContext } from './channel.js';
import { ERROR_CODE, failure, type ErrorCode, type PresenceClientError } from './errors.js';
import { newEpoch } from './payloads.js';

/** A reply as the server sends it on `presence/reply/<clientId>` (docs/api.md). */
interface ReplyBody {
  id: string | number | null;
  result?: unknown;
  error?: { code: number; content: string };
}

export const checkReply = checker<ReplyBody>(
  shape({ id: either(string, integer, nullValue), result: anything, error: shape({ code: integer, content: string }) }, ['result', 'error']),
);

/** Largest reply the client reads: a full page of 1000 members with 1 KiB of data each, and room to spare. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/** Server codes handed through as they are; anything else is an internal error. */
const PASSED_THROUGH = new Set<number>([ERROR_CODE.INVALID_ARGUMENT, ERROR_CODE.NOT_AUTHORIZED, ERROR_CODE.NOT_FOUND, ERROR_CODE.TOO_LARGE, ERROR_CODE.INTERNAL]);

interface Pending {
  method: string;
  resolve(result: unknown): void;
  reject(error: PresenceClientError): void;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Request/reply for the query API: `{"id","method","params"}` to `presence/query/<clientId>`, the
 * answer on `presence/reply/<clientId>`, which only this connection may read. The reply topic is
 * subscribed after every CONNACK (a clean session forgets it). Request ids carry a random
 * per-client prefix, so a reply meant for an earlier client with the same client id never settles
 * one of ours. Replies are not kept by the server for a connection that went away, so a connection
 * loss fails what is in flight at once (NOT_CONNECTED) instead of letting it time out.
 */
export class QueryChannel implements Channel {
  private readonly pending = new Map<string, Pending>();
  private readonly idPrefix = newEpoch().slice(0, 8);
  private counter = 0;
  /** Why the server refused the reply topic, when it did: queries then fail at once. */
  private refused: PresenceClientError | undefined;

  constructor(
    private readonly ctx: ChannelContext,
    private readonly timeoutMs: number,
  ) {}

  async resume(): Promise<void> {
    const filter = this.ctx.topics.reply(this.ctx.clientId);
    const granted = await this.ctx.io('subscribe', (t) => t.subscribe([filter]));
    // A broker without the query API's ACL: presence still works, queries say why they cannot.
    this.refused = refusedFilters([filter], granted);
    if (this.refused) this.ctx.report(this.refused);
  }

  /** Sends one request and resolves with its `result`; an error reply rejects with the server's code. */
  async request(method: string, params: Record<string, unknown>): Promise<unknown> {
    if (this.refused) throw this.refused;
    const id = `${this.idPrefix}-${++this.counter}`;
    const answered = new Promise<unknown>((resolve, reject) => this.pending.set(id, { method, resolve, reject }));
    // Whatever happens next, the caller hears it through `answered`; never an unhandled rejection here.
    answered.catch(() => {});
    try {
      const body = JSON.stringify({ id, method, params });
      await this.ctx.io(method, (t) => t.publish(this.ctx.topics.query(this.ctx.clientId), body, { qos: 1, retain: false }));
      return await within(answered, this.timeoutMs, () => failure(ERROR_CODE.TIMEOUT, `no reply to ${method} within ${this.timeoutMs} ms`));
    } finally {
      this.pending.delete(id);
    }
  }

  /** The connection went: replies to what is in flight will never come. */
  connectionLost(): void {
    for (const [id, call] of this.pending) {
      this.pending.delete(id);
      call.reject(failure(ERROR_CODE.NOT_CONNECTED, `the connection was lost before the reply to ${call.method}`));
    }
  }

  route(target: ProductTopic, payload: Uint8Array): boolean {
    if (target.kind !== 'reply') return false;
    if (target.clientId !== this.ctx.clientId) return true;
    const reply = parseReply(payload);
    if (typeof reply === 'string') {
      this.ctx.report(failure(ERROR_CODE.INTERNAL, `ignored an invalid reply: ${reply}`));
      return true;
    }
    const call = this.settle(reply.id);
    if (!call) return true; // a late reply to a call that already timed out
    if (reply.error) call.reject(failure(passedThrough(reply.error.code), reply.error.content));
    else if ('result' in reply) call.resolve(reply.result);
    else call.reject(failure(ERROR_CODE.INTERNAL, `the reply to ${call.method} has neither result nor error`));
    return true;
  }

  /**
   * The pending call a reply answers. A reply with `id: null` answers a request the server could not
   * read; the client only sends well-formed JSON, so that is one over the server's size limit. It can
   * be matched only when a single call is in flight; otherwise it is reported and the calls time out.
   */
  private settle(id: string | number | null): Pending | undefined {
    if (id === null) {
      if (this.pending.size === 1) return this.pending.values().next().value;
      this.ctx.report(failure(ERROR_CODE.INTERNAL, 'a reply without a request id could not be matched to a call'));
      return undefined;
    }
    return this.pending.get(String(id));
  }
}

function parseReply(payload: Uint8Array): ReplyBody | string {
  if (payload.length > MAX_REPLY_BYTES) return `${payload.length} bytes is too large`;
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    return 'not valid UTF-8 JSON';
  }
  const checked = checkReply(value);
  return checked.ok ? checked.value : checked.reason;
}

function passedThrough(code: number): ErrorCode {
  return PASSED_THROUGH.has(code) ? (code as ErrorCode) : ERROR_CODE.INTERNAL;
}
