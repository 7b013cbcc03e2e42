/**
 * The layering of issue 12 that keeps the browser bundle small and CSP-safe: the client imports only
 * the wire contract (src/protocol/), its own files and mqtt.js; the wire contract imports nothing but
 * itself (no I/O, no ajv, nothing of the server's).
 */
import { readdir, readFile } from 'node:fs/promises';
import t from 'tap';

const src = new URL('../src/', import.meta.url);

async function importsOf(dir: string): Promise<{ file: string; from: string }[]> {
  const out: { file: string; from: string }[] = [];
  for (const file of await readdir(new URL(dir, src))) {
    if (!file.endsWith('.ts')) continue;
    const code = await readFile(new URL(`${dir}${file}`, src), 'utf8');
    for (const m of code.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*'([^']+)'/gm)) out.push({ file: `${dir}${file}`, from: m[1]! });
  }
  return out;
}

t.test('the client imports only src/protocol/, its own files and mqtt', async (t) => {
  const imports = await importsOf('client/');
  t.ok(imports.length > 10, `read ${imports.length} imports`);
  t.same(
    imports.filter(({ from }) => !/^\.\/[\w-]+\.js$/.test(from) && !/^\.\.\/protocol\/[\w-]+\.js$/.test(from) && from !== 'mqtt'),
    [],
  );
});

t.test('src/protocol/ imports nothing outside itself', async (t) => {
  const imports = await importsOf('protocol/');
  t.ok(imports.length > 0, `read ${imports.length} imports`);
  t.same(imports.filter(({ from }) => !/^\.\/[\w-]+\.js$/.test(from)), []);
});

/** The arrows that must never exist (docs/architecture.md "Layering"): data flows socket -> adapter -> core -> feed. */
const forbidden: Record<string, RegExp> = {
  // The presence model knows only itself and the wire contract: no adapter, no I/O store, no feed.
  'core/': /^\.\.\/(?!protocol\/)/,
  // The logger and the refusal log are leaves.
  'log/': /^\.\.\//,
  // Neither mode's edge reaches into the other's adapter; queries, feeds and policy sit below both.
  'attach/': /^\.\.\/broker\//,
  'queries/': /^\.\.\/(broker|attach|http)\//,
  'feed/': /^\.\.\/(broker|attach|queries|http)\//,
  // auth reads its own keys (auth/config.ts), never the serve config that spreads them: no config <-> auth cycle.
  'auth/': /^\.\.\/(broker|attach|queries|http|feed)\/|^\.\.\/config\.js$/,
  // The config machinery shared by serve and attach sits below both modes: it knows the parts' keys, no adapter.
  'config/': /^\.\.\/(broker|attach|http|auth|store|cli|serve|config)\b/,
};

for (const [dir, arrow] of Object.entries(forbidden)) {
  t.test(`src/${dir} has none of the forbidden imports ${arrow}`, async (t) => {
    const imports = await importsOf(dir);
    t.ok(imports.length > 0, `read ${imports.length} imports`);
    t.same(imports.filter(({ from }) => arrow.test(from)), []);
  });
}
