// The anchor: a bare Aedes broker on TCP (the same aedes the product embeds), no presence, no hooks.
// Usage: node bench/bare-aedes.mjs [--port N]; logs one JSON line `listening` with the port.
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
const broker = await Aedes.createBroker({ id: 'bare-aedes' });
const server = createServer((socket) => broker.handle(socket));
server.listen(Number(values.port), values.host, () => {
  const { port } = server.address();
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'listening', mode: 'bare-aedes', mqttPort: port }) + '\n');
});
const stop = () => {
  server.close();
  broker.close(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
