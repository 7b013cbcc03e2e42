import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, importPKCS8 } from 'jose';
import t from 'tap';
import { authedWatcher, grants } from './fixtures/auth.js';
import { client, once, refusedCode } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown>, expSec: number | null = now() + 300, secret = key) {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (expSec !== null) jwt.setExpirationTime(expSec);
  return jwt.sign(secret);
}

t.test('HS256: the token is the password, sub is the user id, a username must match it', async (t) => {
  const { mqttUrl, logs } = await serve(t, { jwtSecret: SECRET });
  const watch = await authedWatcher(t, mqttUrl, 'ops', { password: await hs256({ sub: 'ops' }) }, ['presence/user/+']);
  await watch.find((m) => m.json.id === 'ops' && m.json.action === 'online', 'the watcher itself online');

  // No username at all: the id comes from the token alone.
  await client(t, mqttUrl, { clientId: 'dev-1', username: '', password: await hs256({ sub: 'device7', data: { name: 'Sensor 7' } }) });
  const online = await watch.find((m) => m.json.id === 'device7', 'device7 online');
  t.match(online.json, { action: 'online', id: 'device7', data: { name: 'Sensor 7' } }, 'user id from sub, trusted data from the token');

  t.equal(await refusedCode(mqttUrl, { clientId: 'c1', username: 'alice', password: await hs256({ sub: 'bob' }) }), 4, 'username differs from sub: 4');
  t.equal(await refusedCode(mqttUrl, { clientId: 'c2', username: 'alice', password: await hs256({ sub: 'alice' }, now() - 60) }), 4, 'expired: 4');
  t.equal(await refusedCode(mqttUrl, { clientId: 'c3', username: 'alice', password: await hs256({ sub: 'alice' }, null) }), 4, 'no exp: 4');
  const forged = await hs256({ sub: 'alice' }, now() + 300, new TextEncoder().encode('another-secret-that-is-also-32-bytes-long!!'));
  t.equal(await refusedCode(mqttUrl, { clientId: 'c4', username: 'alice', password: forged }), 4, 'wrong key: 4');
  t.equal(await refusedCode(mqttUrl, { clientId: 'c5', username: 'alice', password: 'not-a-token' }), 4, 'not a token: 4');
  t.equal(await refusedCode(mqttUrl, { clientId: 'c6', password: await hs256({ sub: 'a/b' }) , username: ''}), 4, 'sub that is not a valid id: 4');
  const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'alice', exp: now() + 60 })).toString('base64url')}.x`;
  t.equal(await refusedCode(mqttUrl, { clientId: 'c7', username: 'alice', password: unsigned }), 4, 'alg none: 4');
  const reasons = logs.filter((l) => l.msg === 'connection refused').map((l) => l.reason);
  t.ok(reasons.includes('bad user name or password: token expired'), 'expiry is named in the log');
  t.ok(reasons.includes('bad user name or password: username does not match the token subject'), 'subject mismatch is named in the log');
});

t.test("a token's groups claim restricts joins, like the users file's list", async (t) => {
  const { mqttUrl } = await serve(t, { jwtSecret: SECRET, authorization: 'shared-group' });
  const c = await client(t, mqttUrl, { clientId: 'g-1', username: 'gus', password: await hs256({ sub: 'gus', groups: ['g1'] }) });
  t.same(await grants(c, ['group/g1', 'group/g2']), [1, 128]);
  t.equal(
    await refusedCode(mqttUrl, { clientId: 'g-2', username: 'gus', password: await hs256({ sub: 'gus', groups: 'g1' }) }),
    5,
    'a malformed groups claim: 5',
  );
});

t.test("a token whose connection is refused changes nothing: the user's allowed groups stay the admitted token's", async (t) => {
  const { mqttUrl } = await serve(t, { jwtSecret: SECRET, authorization: 'shared-group', maxConnectionsPerUser: 1 });
  const c = await client(t, mqttUrl, { clientId: 'g-1', username: 'gus', password: await hs256({ sub: 'gus', groups: ['g1'] }) });
  // A valid token for gus naming other groups, refused at the per-user connection cap.
  t.equal(await refusedCode(mqttUrl, { clientId: 'g-2', username: 'gus', password: await hs256({ sub: 'gus', groups: ['g2'] }) }), 5, 'over the cap: 5');
  t.same(await grants(c, ['group/g1', 'group/g2']), [1, 128], "the refused token's groups were not taken up");
});

t.test('a token may not live longer than jwtMaxLifetimeSec', async (t) => {
  const { mqttUrl, logs } = await serve(t, { jwtSecret: SECRET, jwtMaxLifetimeSec: 3600 });
  t.equal(await refusedCode(mqttUrl, { clientId: 'l-1', username: 'lena', password: await hs256({ sub: 'lena' }, now() + 7200) }), 4, 'exp two hours out: 4');
  t.ok(logs.some((l) => l.msg === 'connection refused' && /token lifetime is over the 3600 s limit/.test(String(l.reason))), 'the reason is logged');
  const ok = await client(t, mqttUrl, { clientId: 'l-2', username: 'lena', password: await hs256({ sub: 'lena' }, now() + 1800) });
  t.ok(ok.connected, 'a token within the bound connects');
  const unbounded = await serve(t, { jwtSecret: SECRET, jwtMaxLifetimeSec: 0 });
  const far = await client(t, unbounded.mqttUrl, { clientId: 'l-3', username: 'lena', password: await hs256({ sub: 'lena' }, now() + 365 * 86400) });
  t.ok(far.connected, '0 lifts the bound');
});

t.test('RS256 with a public key file', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dir = t.testdir();
  const publicKeyFile = join(dir, 'jwt.pub.pem');
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const signingKey = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'RS256');
  const { mqttUrl } = await serve(t, { jwtPublicKeyFile: publicKeyFile, jwtIssuer: 'https://issuer.test' });
  const rs256 = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setIssuer('https://issuer.test').setExpirationTime('5m').sign(signingKey);
  const c = await client(t, mqttUrl, { clientId: 'r1', username: 'carol', password: await rs256({ sub: 'carol' }) });
  t.ok(c.connected, 'a valid RS256 token connects');
  const wrongIssuer = await new SignJWT({ sub: 'carol' }).setProtectedHeader({ alg: 'RS256' }).setIssuer('https://evil.test').setExpirationTime('5m').sign(signingKey);
  t.equal(await refusedCode(mqttUrl, { clientId: 'r2', username: 'carol', password: wrongIssuer }), 4, 'wrong issuer: 4');
  // Algorithm confusion: an HS256 token "signed" with the public key's PEM text must not pass.
  const confused = await hs256({ sub: 'carol', iss: 'https://issuer.test' }, now() + 60, new TextEncoder().encode(publicKey.export({ type: 'spki', format: 'pem' }) as string));
  t.equal(await refusedCode(mqttUrl, { clientId: 'r3', username: 'carol', password: confused }), 4, 'HS256 against an RS256 key: 4');
});

t.test('a connection outliving its token is closed at expiry and its user goes offline', async (t) => {
  const { mqttUrl, logs } = await serve(t, { jwtSecret: SECRET });
  const watch = await authedWatcher(t, mqttUrl, 'ops', { password: await hs256({ sub: 'ops' }) }, ['presence/user/dora']);
  const dora = await client(t, mqttUrl, { clientId: 'dora-1', username: 'dora', password: await hs256({ sub: 'dora' }, now() + 3) });
  const closed = once(dora, 'close', 'the server closing dora at token expiry');
  await watch.find((m) => m.json.action === 'online', 'dora online');
  const offline = await watch.find((m) => m.json.action === 'offline', 'dora offline at token expiry');
  t.match(offline.json, { id: 'dora', action: 'offline', reason: 'token_expired' });
  await closed;
  t.ok(logs.some((l) => l.msg === 'credential expired: closing connection' && l.userId === 'dora'), 'the close is logged');
});

t.test('secrets too short to be safe are refused at start', async (t) => {
  await t.rejects(serve(t, { jwtSecret: 'x'.repeat(32), jwtSecretFile: '/nonexistent' }), /not both/);
  const dir = t.testdir({ short: 'too-short' });
  await t.rejects(serve(t, { jwtSecretFile: join(dir, 'short') }), /at least 32 bytes/);
  await t.rejects(serve(t, { jwtSecret: 'short' }), /jwtSecret/);
});
