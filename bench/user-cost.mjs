/**
 * Heap kept per user seen (docs/security.md, "Memory per user and per session"): N users connect once
 * and leave (GROUP=1: each joins one of 100 groups first), measured as the heap after GC grows between
 * a warm-up round and a second round of N new users. Run after `npm run build`:
 *   node --expose-gc bench/user-cost.mjs          N=20000 by default
 */
import { resolveServeConfig } from '../dist/config.js';
import { createLogger } from '../dist/log/logger.js';
import { startServer } from '../dist/serve.js';

if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');
const N = Number(process.env.N ?? 20000);
const GROUP = process.env.GROUP === '1';
const server = await startServer(resolveServeConfig({ mqttPort: 0, httpPort: 0 }), createLogger('error', () => {}));
const tracker = server.broker.tracker;

async function heap() {
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (let i = 0; i < 4; i++) global.gc();
  return process.memoryUsage().heapUsed;
}

async function round(from) {
  for (let i = from; i < from + N; i++) {
    const userId = `user-${String(i).padStart(6, '0')}`;
    void tracker.connectionUp({ userId, connectionId: userId });
    if (GROUP) void tracker.join(userId, `g${i % 100}`);
    void tracker.connectionDown({ userId, connectionId: userId, reason: 'disconnect' });
  }
  await tracker.settled();
  await server.broker.publisher.drained();
}

await round(0);
const base = await heap();
await round(N);
const after = await heap();
console.log(JSON.stringify({ users: N, group: GROUP, bytesPerUser: Math.round((after - base) / N) }));
await server.close();
