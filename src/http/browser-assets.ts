import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { sendError, type Router } from './router.js';

/** The client bundle's stable path: pages `import { connect } from '/client/presence-bridge.js'`. */
export const CLIENT_BUNDLE_PATH = '/client/presence-bridge.js';

/**
 * Where `npm run build` (scripts/bundle.mjs) puts the browser files. Resolved from the package root,
 * which is two levels up from both src/http/ and dist/http/, so tests running the sources find it too.
 */
const BROWSER_DIR = new URL('../../dist/browser/', import.meta.url);

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
  '/demo.js': { file: 'demo.js', type: 'text/javascript; charset=utf-8' },
  [CLIENT_BUNDLE_PATH]: { file: 'presence-bridge.js', type: 'text/javascript; charset=utf-8' },
};

/**
 * The Content-Security-Policy of the demo page and the bundle (docs/client.md "Content-Security-Policy"):
 * scripts, styles and the MQTT WebSocket from this origin only, no 'unsafe-eval' and no 'unsafe-inline'
 * (the page has no inline script or style; the client compiles no code), images from here or `data:`
 * (the favicon), workers from `blob:` (below), nothing else. CSP 3's 'self' covers ws:/wss: to the same host.
 */
export const DEMO_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  // mqtt.js runs its keepalive timer in a Worker made from a blob (worker-timers), so pings keep going
  // in a background tab, where the browser slows a page's own timers down.
  "worker-src blob:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The demo page at `/` and the browser client bundle, read from disk once and kept. */
export function registerBrowserAssets(router: Router, dir: URL = BROWSER_DIR): Router {
  const cache = new Map<string, Promise<Buffer>>();
  const load = (file: string) => {
    let body = cache.get(file);
    if (!body) {
      body = readFile(new URL(file, dir));
      cache.set(file, body);
      body.catch(() => cache.delete(file));
    }
    return body;
  };
  for (const [path, asset] of Object.entries(ASSETS)) {
    router.get(new RegExp(`^${path.replace(/[.]/g, '\\.')}$`), async (req, res) => {
      let body: Buffer;
      try {
        body = await load(asset.file);
      } catch {
        sendError(res, 503, `${asset.file} is missing: run \`npm run build\``);
        return;
      }
      send(res, asset.type, body, req.method === 'HEAD');
    });
  }
  return router;
}

function send(res: ServerResponse, type: string, body: Buffer, headOnly: boolean): void {
  res.writeHead(200, {
    'content-type': type,
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy': DEMO_CSP,
  });
  res.end(headOnly ? undefined : body);
}
