/**
 * Measures what remembering lastSeen costs in MemoryStore: users who went offline and hold nothing
 * else are kept only as `id -> lastSeen`, bounded by `maxLastSeen` (default 1,000,000). Run in a child
 * Node with --expose-gc, so the heap is measured after collection, not guessed.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';

const ROOT = join(import.meta.dirname, '..', '..');
const USERS = 200_000;

const script = `
import { MemoryStore } from ${JSON.stringify(join(ROOT, 'dist/core/memory-store.js'))};
const store = new MemoryStore({ maxLastSeen: ${USERS} });
const id = (i) => 'user-' + String(i).padStart(8, '0');
gc(); const before = process.memoryUsage().heapUsed;
let t0 = 1_800_000_000_000;
// The ids are made here, so their strings (which the store keeps as keys) are measured too.
for (let i = 0; i < ${USERS + 1000}; i++) await store.commit({ id: id(i), online: false, seq: 5, data: {}, connections: {}, groups: [], lastSeen: t0++ }, []);
gc(); const after = process.memoryUsage().heapUsed;
console.log(JSON.stringify({ perUser: (after - before) / ${USERS}, kept: store.lastSeenOnly, oldest: (await store.getUser(id(0))) ?? null, newest: await store.getUser(id(${USERS + 999})) }));
`;

t.test(`lastSeen-only users: heap per user and the bound (${USERS} users)`, async (t) => {
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  const result = JSON.parse(out) as { perUser: number; kept: number; oldest: unknown; newest: { lastSeen?: number } | null };
  t.equal(result.kept, USERS, 'no more than the bound are kept');
  t.equal(result.oldest, null, 'the oldest beyond the bound are forgotten');
  t.ok(result.newest?.lastSeen, 'the newest is kept');
  t.ok(result.perUser < 200, `about ${Math.round(result.perUser)} bytes of heap per lastSeen-only user (bound 200)`);
  t.comment(`lastSeen-only user: ${result.perUser.toFixed(1)} bytes of heap`);
});
