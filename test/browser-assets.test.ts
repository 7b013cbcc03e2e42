import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { Router } from '../src/http/router.js';
import { registerBrowserAssets } from '../src/http/browser-assets.js';
import { createHttpServer } from '../src/http/server.js';
import { silentLogger } from '../src/log/logger.js';
import { buildBrowserFiles } from './fixtures/browser.js';
import { serve } from './fixtures/server.js';

t.test('the demo page and the client bundle are served at stable paths', async (t) => {
  await buildBrowserFiles();
  const { httpUrl } = await serve(t);

  const bundle = await fetch(`${httpUrl}/client/presence-bridge.js`);
  t.equal(bundle.status, 200);
  t.match(bundle.headers.get('content-type'), /^text\/javascript/);
  t.equal(bundle.headers.get('x-content-type-options'), 'nosniff');
  const code = await bundle.text();
  t.match(code, /export\s*\{[^}]*\bconnect\b[^}]*\}/, 'an ES module exporting connect');
  t.notMatch(code, /from\s*["'](mqtt|ajv)["']/, 'self-contained: no bare imports left');

  const page = await fetch(`${httpUrl}/`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /^text\/html/);
  t.match(await page.text(), /<script type="module" src="\/demo\.js">/);
  const demo = await (await fetch(`${httpUrl}/demo.js`)).text();
  t.match(demo, /from\s*"\/client\/presence-bridge\.js"/, 'the page uses the served bundle, not a second copy');
  t.equal((await fetch(`${httpUrl}/demo.css`)).status, 200);

  const head = await fetch(`${httpUrl}/client/presence-bridge.js`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(Number(head.headers.get('content-length')), Buffer.byteLength(code));
  t.equal((await fetch(`${httpUrl}/client/other.js`)).status, 404);
  t.equal((await fetch(`${httpUrl}/`, { method: 'POST' })).status, 405);
});

t.test('an unbuilt bundle is a clear 503, not a crash', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'pb-assets-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  const router = registerBrowserAssets(new Router(), pathToFileURL(empty + '/'));
  const server = createHttpServer(router, () => {}, silentLogger);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  const res = await fetch(`http://127.0.0.1:${port}/client/presence-bridge.js`);
  t.equal(res.status, 503);
  // The numeric HTTP status like every error body (src/protocol/errors.ts), not a string code.
  t.same(await res.json(), { error: { code: 503, content: 'presence-bridge.js is missing: run `npm run build`' } });
});
