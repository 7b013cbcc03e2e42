import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from '../protocol/errors.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], url: URL) => void | Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

/**
 * A deliberately small router: method + anchored regex, captured groups as params. The HTTP surface
 * is a handful of read-only endpoints; a framework would be more code to audit than it saves.
 */
export class Router {
  private readonly routes: Route[] = [];

  get(pattern: RegExp, handler: Handler): this {
    this.routes.push({ method: 'GET', pattern, handler });
    return this;
  }

  /** Handles the request; resolves false when no route matched. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let pathMatched = false;
    for (const route of this.routes) {
      const match = route.pattern.exec(url.pathname);
      if (!match) continue;
      pathMatched = true;
      if (route.method !== req.method && !(route.method === 'GET' && req.method === 'HEAD')) continue;
      const params = decodePathParams(match.slice(1));
      if (typeof params === 'string') {
        sendError(res, 400, params);
        return true;
      }
      await route.handler(req, res, params, url);
      return true;
    }
    if (pathMatched) {
      sendError(res, 405, `${req.method} is not allowed here`, { allow: 'GET, HEAD' });
      return true;
    }
    return false;
  }
}

/**
 * Percent-decodes captured path segments; a malformed escape (`%ZZ`, a lone `%`, bytes that are not
 * UTF-8) is the string naming the problem, answered 400 like the same in the query string.
 */
function decodePathParams(parts: (string | undefined)[]): string[] | string {
  const decoded: string[] = [];
  for (const part of parts) {
    try {
      decoded.push(decodeURIComponent(part ?? ''));
    } catch {
      return `malformed percent-encoding in '${part}'`;
    }
  }
  return decoded;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** Every HTTP error answer: status `status` with the body `{error: {code: status, content}}` (src/protocol/errors.ts). */
export function sendError(res: ServerResponse, status: number, content: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, errorBody(status, content), headers);
}
