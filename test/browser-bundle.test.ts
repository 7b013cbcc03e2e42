/**
 * The browser bundle's budget (issue 12): at most 380,000 bytes minified, and no code compiled at run
 * time (`new Function`, `eval(`), which a Content-Security-Policy without 'unsafe-eval' refuses.
 */
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { buildBrowserFiles } from './fixtures/browser.js';

const MAX_BUNDLE_BYTES = 380_000;
const dist = new URL('../dist/browser/', import.meta.url);

t.test('the client bundle fits its size budget', async (t) => {
  await buildBrowserFiles();
  const bundle = await readFile(new URL('presence-bridge.js', dist));
  t.ok(bundle.length <= MAX_BUNDLE_BYTES, `presence-bridge.js is ${bundle.length} bytes (budget ${MAX_BUNDLE_BYTES})`);
});

t.test('neither the bundle nor the demo script compiles code at run time', async (t) => {
  await buildBrowserFiles();
  for (const file of ['presence-bridge.js', 'demo.js']) {
    const code = await readFile(new URL(file, dist), 'utf8');
    t.notMatch(code, /new\s+Function\b/, `${file}: no new Function`);
    t.notMatch(code, /\beval\s*\(/, `${file}: no eval(`);
    t.notMatch(code, /\bajv\b/i, `${file}: no ajv`);
  }
});
