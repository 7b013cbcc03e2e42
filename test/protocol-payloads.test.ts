/**
 * Issue 12: the member and event shapes are declared once, in src/protocol/payloads.ts, and imported by
 * the core, the query service and the client. This looks for a second declaration of one of them
 * anywhere else under src/: an interface or object type with a wire shape's fields (all that shape
 * requires, nothing it does not have).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const src = fileURLToPath(new URL('../src/', import.meta.url));

/** Each wire shape's required fields, and its optional ones. */
const shapes: Record<string, [required: string[], optional: string[]]> = {
  member: [['id', 'online', 'data', 'seq'], ['lastSeen']],
  'user event': [['time', 'action', 'id', 'data', 'seq'], ['reason']],
  'group event': [['groupId', 'groupOnlineCount', 'time', 'action', 'id', 'data', 'seq'], ['reason']],
  'groupHereNow result': [['groupId', 'total', 'onlineCount', 'offset', 'limit', 'members'], []],
};

function copies(fields: Set<string>, [required, optional]: [string[], string[]]): boolean {
  return required.every((f) => fields.has(f)) && [...fields].every((f) => required.includes(f) || optional.includes(f));
}

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Each `interface X ... {` or `type X = {` block's name and top-level field names. */
function declarations(code: string): { name: string; fields: Set<string> }[] {
  const found: { name: string; fields: Set<string> }[] = [];
  for (const m of code.matchAll(/^(?:export\s+)?(?:interface\s+(\w+)[^{]*|type\s+(\w+)[^=]*=\s*)\{/gm)) {
    let depth = 1;
    let i = m.index + m[0].length;
    const start = i;
    while (depth > 0 && i < code.length) {
      if (code[i] === '{') depth++;
      else if (code[i] === '}') depth--;
      i++;
    }
    const body = code.slice(start, i - 1);
    const fields = new Set<string>();
    let level = 0;
    for (const line of body.split('\n')) {
      const field = level === 0 ? /^\s*(?:readonly\s+)?(\w+)\??:/.exec(line) : null;
      if (field) fields.add(field[1]!);
      level += (line.match(/[{[(]/g) ?? []).length - (line.match(/[}\])]/g) ?? []).length;
    }
    found.push({ name: m[1] ?? m[2]!, fields });
  }
  return found;
}

t.test('the scanner finds the shapes where they are declared', async (t) => {
  const code = await readFile(join(src, 'protocol/payloads.ts'), 'utf8');
  const decls = declarations(code);
  for (const [shape, fields] of Object.entries(shapes)) {
    t.ok(decls.some((d) => copies(d.fields, fields)), `${shape} found in src/protocol/payloads.ts`);
  }
});

t.test('no wire shape is declared again outside src/protocol/', async (t) => {
  const found: string[] = [];
  for (const file of await sources(src)) {
    const rel = relative(src, file);
    if (rel.startsWith('protocol/')) continue;
    for (const decl of declarations(await readFile(file, 'utf8'))) {
      for (const [shape, fields] of Object.entries(shapes)) {
        if (copies(decl.fields, fields)) found.push(`${rel}: ${decl.name} copies the ${shape}`);
      }
    }
  }
  t.same(found, []);
});
