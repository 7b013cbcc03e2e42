// Builds the browser files into dist/browser/ (run by `npm run build`, so `npm install` does it):
// the client as one ES module, served at /client/presence-bridge.js, and the demo page, whose script
// imports that same file at run time instead of carrying a second copy of the client.
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/browser`;
const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2020', minify: true, legalComments: 'eof', logLevel: 'warning', outdir };

/** The demo's `import ... from '../../client/index.js'` becomes the served bundle. */
const clientAsServed = {
  name: 'client-as-served',
  setup(b) {
    b.onResolve({ filter: /\/client\/index\.js$/ }, () => ({ path: '/client/presence-bridge.js', external: true }));
  },
};

await mkdir(outdir, { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: { 'presence-bridge': `${root}src/client/index.ts` } }),
  build({ ...common, entryPoints: { demo: `${root}src/http/demo/app.ts` }, plugins: [clientAsServed] }),
  copyFile(`${root}src/http/demo/index.html`, `${outdir}/index.html`),
  copyFile(`${root}src/http/demo/demo.css`, `${outdir}/demo.css`),
]);
