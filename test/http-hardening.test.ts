/**
 * Issue 16, item 6: the HTTP edge answers malformed requests with the status a client can act on, and
 * the WebSocket endpoint speaks MQTT only.
 */
import { connect as tcpConnect } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { serve } from './fixtures/server.js';
import { WAIT_MS } from './fixtures/mqtt.js';

/** Sends raw bytes over HTTP/1.1 and resolves to what the server wrote before closing. */
function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no answer; got ${JSON.stringify(text.slice(0, 200))}`)), WAIT_MS);
    socket.on('data', (data) => (text += data.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => (clearTimeout(timer), resolve(text)));
    socket.write(request);
  });
}

t.test('a malformed % escape in a path segment is a 400, as in the query string', async (t) => {
  const { httpUrl } = await serve(t);
  for (const path of ['/v1/users/%E0%A4%A', '/v1/users/a%ZZ', '/v1/users/%', '/v1/users/%FF', '/v1/users/a%2/groups', '/v1/groups/%C3%28']) {
    const res = await fetch(`${httpUrl}${path}`);
    const body = (await res.json()) as { error?: { code: number; content: string } };
    t.equal(res.status, 400, `GET ${path}`);
    t.equal(body.error?.code, 400, 'the body carries the same code');
    t.match(body.error?.content, /malformed percent-encoding/);
  }
  const fine = await fetch(`${httpUrl}/v1/users/caf%C3%A9`);
  t.same([fine.status, await fine.json()], [404, { error: { code: 404, content: "user 'café' is not known" } }], 'a well-formed escape still decodes');
});

t.test('an oversized header is answered 431, not a reset', async (t) => {
  const { server } = await serve(t);
  for (const path of ['/v1/users/alice', '/mqtt']) {
    const answer = await rawHttp(server.httpPort, `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(80 * 1024)}\r\n\r\n`);
    t.match(answer, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/, `GET ${path}: 431`);
    t.match(answer, /"code":431/, 'with the usual error body');
  }
  const garbage = await rawHttp(server.httpPort, 'NOT HTTP AT ALL\r\n\r\n');
  t.match(garbage, /^HTTP\/1\.1 400 Bad Request\r\n/, 'a request that is not HTTP is a 400');
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/healthz`);
  t.equal(res.status, 200, 'the server still answers');
});

/** Opens a WebSocket to /mqtt offering `protocols`; resolves to the negotiated one, or the refusal. */
function offer(url: string, protocols: string[]): Promise<{ protocol?: string; status?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    const timer = setTimeout(() => reject(new Error('no answer to the upgrade')), WAIT_MS);
    ws.on('open', () => {
      clearTimeout(timer);
      resolve({ protocol: ws.protocol });
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode });
      res.resume();
    });
    ws.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

t.test('WebSocket: the mqtt subprotocols only', async (t) => {
  const { wsUrl } = await serve(t);
  t.same(await offer(wsUrl, ['mqtt']), { protocol: 'mqtt' });
  t.same(await offer(wsUrl, ['xmpp', 'mqtt']), { protocol: 'mqtt' }, 'mqtt picked from a list, not the first offered');
  t.same(await offer(wsUrl, ['mqttv3.1']), { protocol: 'mqttv3.1' }, 'the MQTT 3.1 name');
  t.same(await offer(wsUrl, ['xmpp']), { status: 400 }, 'no MQTT subprotocol offered: refused');
  t.same(await offer(wsUrl, ['xmpp', 'soap']), { status: 400 });
});
