// The anchor: a bare Aedes broker on TCP (the same aedes the product embeds), no presence, no hooks.
// With --redis URL it runs on aedes' own cluster engines instead of memory (aedes-persistence-redis
// and mqemitter-redis on ioredis, their default options): the anchor of the cluster scenario's
// "what the engines alone cost" row.
// Usage: node bench/bare-aedes.mjs [--port N] [--redis URL]; logs one JSON line `listening` with the port.
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, redis: { type: 'string' } } });
const engines = {};
if (values.redis) {
  const require = createRequire(import.meta.url);
  const { Redis } = require('ioredis');
  engines.persistence = require('aedes-persistence-redis')({ conn: new Redis(values.redis) });
  engines.mq = require('mqemitter-redis')({ pubConn: new Redis(values.redis), subConn: new Redis(values.redis) });
}
const broker = await Aedes.createBroker({ id: 'bare-aedes', ...engines });
const server = createServer((socket) => broker.handle(socket));
server.listen(Number(values.port), values.host, () => {
  const { port } = server.address();
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'listening', mode: values.redis ? 'bare-aedes-redis' : 'bare-aedes', mqttPort: port }) + '\n');
});
const stop = () => {
  server.close();
  broker.close(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
