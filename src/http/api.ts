import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Security } from '../auth/security.js';
import { QueryRateLimit } from '../queries/rate-limit.js';
import { QueryCode, type Answer, type QueryService } from '../queries/service.js';
import { inRequestTerms, type RequestShape } from './api-errors.js';
import { sendError, sendJson, type Router } from './router.js';

export interface ApiOptions {
  service: QueryService;
  /** When set, every /v1 request must carry `Authorization: Bearer <token>`; its bearer sees everything. */
  apiToken?: string;
  /** Set (see `apiClosedBecause`): every /v1 request is refused with 403 and this reason. */
  closedBecause?: string;
}

/**
 * Why /v1 must stay closed, or undefined when it may answer. A caller without a token has no identity
 * the watch policy could judge, so without a token /v1 answers only where it shows nothing an anonymous
 * MQTT client could not see: no authentication and the built-in open policy. With a token, its bearer
 * is a trusted backend and sees everything.
 */
export function apiClosedBecause(
  apiToken: string | undefined,
  security: Pick<Security, 'authRequired' | 'watchesAll' | 'policy'>,
): string | undefined {
  if (apiToken !== undefined || (!security.authRequired && security.watchesAll)) return undefined;
  const why = security.authRequired ? 'clients must authenticate' : `the ${security.policy.name} watch policy is in force`;
  return `the HTTP API (/v1) is closed: ${why} and no apiToken is configured; give backends a token with apiToken (--api-token)`;
}

type Endpoint = (res: ServerResponse, params: string[], query: QueryString) => Promise<void> | void;

/**
 * The read-only HTTP API under /v1: the same four queries as MQTT request/reply, answered by the same
 * service, so params, limits and result shapes are identical. A single resource the model knows
 * nothing about is a 404; collections answer with what they can, like hereNow.
 */
export function mountApi(router: Router, { service, apiToken, closedBecause }: ApiOptions): void {
  const authorized = bearerCheck(apiToken);
  const rate = new QueryRateLimit(service.limits.httpRatePerAddress, service.limits.httpBurstPerAddress, 'address');
  const endpoint = (pattern: RegExp, allowed: string[], handle: Endpoint) =>
    router.get(pattern, async (req, res, params, url) => {
      // First, so a flood (token guessing included) costs one bucket lookup per request.
      const tooMany = rate.take(req.socket.remoteAddress ?? '');
      if (tooMany) return sendError(res, tooMany.code, tooMany.content, { 'retry-after': '1' });
      if (closedBecause !== undefined) return sendError(res, QueryCode.FORBIDDEN, closedBecause);
      if (!authorized(req)) {
        return sendError(res, QueryCode.UNAUTHORIZED, 'a valid bearer token is required', {
          'www-authenticate': 'Bearer realm="presence-bridge"',
        });
      }
      let query: QueryString;
      try {
        query = new QueryString(url.search, allowed);
      } catch (error) {
        return sendError(res, QueryCode.BAD_REQUEST, (error as Error).message);
      }
      await handle(res, params, query);
    });

  endpoint(/^\/v1\/users\/([^/]+)\/groups$/, [], async (res, [userId]) => {
    reply(res, await service.call('whereNow', { userId }, 'http'), `user '${userId}' is not known`, undefined, { pathId: { key: 'userId', value: userId!, noun: 'user' } });
  });
  endpoint(/^\/v1\/users\/([^/]+)$/, [], async (res, [userId]) => {
    const answer = await service.call('hereNow', { userIds: [userId] }, 'http');
    reply(res, answer, `user '${userId}' is not known`, (result) => (result as { users: unknown[] }).users[0], { pathId: { key: 'userIds', value: userId!, noun: 'user' } });
  });
  endpoint(/^\/v1\/users$/, ['ids'], async (res, _params, query) => {
    const ids = query.list('ids');
    reply(res, await service.call('hereNow', { userIds: ids }, 'http'), undefined, undefined, { listParam: { key: 'userIds', values: ids ?? [] } });
  });
  endpoint(/^\/v1\/groups\/([^/]+)$/, ['limit', 'offset'], async (res, [groupId], query) => {
    const params = { groupId, limit: query.integer('limit'), offset: query.integer('offset') };
    reply(res, await service.call('groupHereNow', params, 'http'), `group '${groupId}' has no members`, undefined, { pathId: { key: 'groupId', value: groupId!, noun: 'group' } });
  });
  endpoint(/^\/v1\/groups$/, ['ids'], async (res, _params, query) => {
    const ids = query.list('ids');
    reply(res, await service.call('groupOnlineCount', { groupIds: ids }, 'http'), undefined, undefined, { listParam: { key: 'groupIds', values: ids ?? [] } });
  });
  endpoint(/^\/v1(?:\/.*)?$/, [], (res) => sendError(res, QueryCode.NOT_FOUND, 'no such endpoint'));
}

function reply(res: ServerResponse, answer: Answer, notKnown?: string, pick: (result: unknown) => unknown = (r) => r, shape: RequestShape = {}): void {
  if (!answer.ok) return sendError(res, answer.error.code, answer.error.code === QueryCode.BAD_REQUEST ? inRequestTerms(answer.error.content, shape) : answer.error.content);
  if (notKnown && !answer.known) return sendError(res, QueryCode.NOT_FOUND, notKnown);
  sendJson(res, 200, pick(answer.result));
}

/**
 * Compares digests rather than the tokens themselves: equal lengths for timingSafeEqual, and the time
 * taken says nothing about the token's length or content.
 */
function bearerCheck(token: string | undefined): (req: IncomingMessage) => boolean {
  if (token === undefined) return () => true;
  const expected = createHash('sha256').update(token).digest();
  return (req) => {
    const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}

/**
 * The query string, strictly: unknown or repeated parameters are errors rather than silently ignored.
 * Id lists are split on literal commas BEFORE percent-decoding, so an id containing a comma is
 * written `%2C`.
 */
class QueryString {
  private readonly values = new Map<string, { whole: string; pieces: string[] }[]>();

  constructor(search: string, allowed: string[]) {
    for (const pair of search.replace(/^\?/, '').split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = decode(eq < 0 ? pair : pair.slice(0, eq));
      const raw = eq < 0 ? '' : pair.slice(eq + 1);
      if (!allowed.includes(key)) {
        throw new Error(`unknown query parameter '${key}'${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`);
      }
      const value = { whole: decode(raw), pieces: raw.split(',').map(decode) };
      this.values.set(key, [...(this.values.get(key) ?? []), value]);
    }
  }

  /** `ids=a,b&ids=c` is [a, b, c]; absent is undefined (the service says it is required). */
  list(key: string): string[] | undefined {
    return this.values.get(key)?.flatMap((value) => value.pieces);
  }

  /** A whole number, or what was given as a string so that the service's schema names the problem. */
  integer(key: string): unknown {
    const values = this.values.get(key);
    if (!values) return undefined;
    // Repeated, it is not one number: the schema refuses the array.
    if (values.length > 1) return values.map((value) => value.whole);
    const text = values[0]!.whole;
    return /^\d{1,15}$/.test(text) ? Number(text) : text;
  }
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    throw new Error(`malformed percent-encoding in '${part}'`);
  }
}
