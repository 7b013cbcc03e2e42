import { createServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { connect, ERROR_CODE, IM_EVENT, CLIENT_EVENT, PresenceClientError } from '../src/client/index.js';
import { Recorder } from './fixtures/client.js';
import { forEachMode } from './fixtures/modes.js';

/**
 * The thin client against both modes: the embedded broker (serve), and Mosquitto with the bridge
 * (attach). Same cases, same client; where the modes differ observably (the offline reason, how a
 * connection is dropped from the far side, what an oversized `data` does) the mode fixture says how.
 */
const LONGEST_ID = 'é'.repeat(128);
const users = ['observer', 'mis', 'big', 'x', LONGEST_ID];

const brief = (r: { event: string; payload: Record<string, unknown> }) =>
  `${r.event} ${String(r.payload.groupId ?? '')} ${String(r.payload.action)} ${String(r.payload.id)} ${String(r.payload.groupOnlineCount ?? '')}`.replace(/ +/g, ' ');

forEachMode(t, 'two users see each other: snapshot from the retained state, changes through handlers', async (t, mode) => {
  const alice = await mode.client(t, 'alice', { data: { name: 'Alice', avatar: '#e91e63' } });
  const aliceSees = new Recorder(alice);

  let succeeded = false;
  const result = await alice.subscribeUserPresence({ userIds: ['bob'], onSuccess: () => (succeeded = true) });
  t.equal(result, undefined, 'the promise resolves');
  t.ok(succeeded, 'onSuccess was called');
  t.equal(alice.presenceOf('bob'), undefined, 'bob was never seen');

  // bob connects over WebSocket, as a browser would
  const bob = await mode.client(t, 'bob', { url: mode.wsUrl, data: { name: 'Bob' } });
  const online = await aliceSees.next('bob online');
  t.equal(online.event, IM_EVENT.USER_PRESENCE);
  t.match(online.payload, { action: 'online', id: 'bob', data: { name: 'Bob' } });
  t.equal(alice.presenceOf('bob')?.action, 'online');

  const bobSees = new Recorder(bob);
  await bob.subscribeUserPresence({ userIds: ['alice'] });
  const snapshot = await bobSees.next('alice snapshot');
  t.equal(snapshot.event, CLIENT_EVENT.SNAPSHOT, 'a retained state is a snapshot, not a change');
  t.match(snapshot.payload, { action: 'online', id: 'alice', data: { name: 'Alice', avatar: '#e91e63' } });
  t.match(bob.presenceOf('alice'), { action: 'online', id: 'alice' });

  await bob.disconnect();
  t.equal(bob.status, 'disconnected');
  const offline = await aliceSees.next('bob offline');
  t.equal(offline.event, IM_EVENT.USER_PRESENCE);
  t.match(offline.payload, { action: 'offline', id: 'bob', reason: mode.reasons.disconnect });
  t.ok((offline.payload.seq as number) > (online.payload.seq as number));
  t.same(aliceSees.unread(), [], 'nothing else reached alice');
  t.same(bobSees.unread(), [], 'bob saw only the snapshot');
}, { users });

forEachMode(t, 'group membership: join, online, offline and leave with counts, each exactly once', async (t, mode) => {
  const observer = await mode.client(t, 'observer');
  const seen = new Recorder(observer);
  await observer.subscribeGroupPresence({ groupIds: ['lobby'] });

  const bob = await mode.client(t, 'bob', { data: { name: 'Bob' } });
  const joined = await new Promise<void>((resolve, reject) =>
    void bob.subscribeGroup({ groupIds: ['lobby'], onSuccess: resolve, onFailed: (e) => reject(new Error(e.content)) }),
  );
  t.equal(joined, undefined);
  t.same(bob.groups, ['lobby']);
  const carol = await mode.client(t, 'carol', { reconnectPeriodMs: 0 });
  await carol.subscribeGroup({ groupId: 'lobby' });
  await bob.disconnect();
  await carol.unsubscribeGroup({ groupId: 'lobby' });
  t.same(carol.groups, []);
  // carol, not a member any more, going away is no event for the group: the log ends with the leave.
  await carol.disconnect();

  const expected = [
    'GROUP_PRESENCE lobby join bob 1',
    'GROUP_PRESENCE lobby join carol 2',
    'GROUP_PRESENCE lobby offline bob 1',
    'GROUP_PRESENCE lobby leave carol 0',
  ];
  const got: string[] = [];
  for (const label of expected) got.push(brief(await seen.next(label)));
  t.same(got, expected);
  const first = seen.all[0]!.payload;
  t.match(first, { groupId: 'lobby', id: 'bob', data: { name: 'Bob' } });
  t.type(first.groupOnlineCount, 'number');

  // bob comes back: a member reconnecting and joining again is `online`, not a second `join`.
  const bobAgain = await mode.client(t, 'bob', { data: { name: 'Bob' } });
  await bobAgain.subscribeGroup({ groupIds: ['lobby'] });
  t.equal(brief(await seen.next('bob online again')), 'GROUP_PRESENCE lobby online bob 1');
  await observer.unsubscribeGroupPresence({ groupIds: ['lobby'] });
  await bobAgain.unsubscribeGroup({ groupIds: ['lobby'] });
  t.same(seen.unread(), [], 'no duplicates, nothing after unsubscribing');
}, { users });

forEachMode(t, 'reconnect after the far side drops the connection: re-announced, re-subscribed, handlers keep working', async (t, mode) => {
  // serve: the broker destroys the socket; attach: the link to Mosquitto is cut (Mosquitto fires the will).
  // The client comes back after 1.5 s, beyond attach mode's takeover window (a birth within it would be
  // taken for a takeover: no offline/online pair, docs/attach.md).
  const line = await mode.droppable(t, 'alice-tab');
  const announced = await mode.announcements(t, 'alice', 'alice-tab');
  const watch = await mode.watcher(t);
  const alice = await mode.client(t, 'alice', { url: line.url, clientId: 'alice-tab', reconnectPeriodMs: 1500, data: { name: 'A' } });
  const aliceSees = new Recorder(alice);
  const connection = new Recorder(alice, ['CONNECTION']);
  await alice.subscribeUserPresence({ userIds: ['bob'] });
  await alice.subscribeGroup({ groupIds: ['lobby'] });
  t.match((await watch.find((m) => m.topic === 'presence/group/lobby', 'alice join')).json, { action: 'join', id: 'alice' });
  const birth = await announced.next('the first birth');
  t.match(birth, { action: 'online', data: { name: 'A' } });

  line.drop();
  t.match((await watch.find((m) => m.topic === 'presence/user/alice', 'alice offline')).json, { action: 'offline', reason: mode.reasons.lost });
  t.match((await connection.next('reconnecting')).payload, { status: 'reconnecting' });
  t.match((await connection.next('connected again')).payload, { status: 'connected' });
  t.equal(alice.status, 'connected');
  t.match((await watch.find((m) => m.topic === 'presence/user/alice', 'alice online again')).json, { action: 'online', data: { name: 'A' } });
  t.match(
    (await watch.find((m) => m.topic === 'presence/group/lobby', 'alice back in lobby')).json,
    { action: 'online', id: 'alice', groupOnlineCount: 1 },
    'membership restored: online, not a second join',
  );

  // the will the broker published when the connection died, then the birth after the reconnect
  const will = await announced.next('the will that fired');
  t.match(will, { action: 'offline', data: { name: 'A' } }, 'the will carries the data');
  t.equal(will.epoch, birth.epoch, 'the will that fired is that connection\'s: the birth carries the epoch of its will');
  const rebirth = await announced.next('the birth after the reconnect');
  t.equal(rebirth.action, 'online');
  t.not(rebirth.epoch, birth.epoch, 'a new epoch for the new connection');

  // The user watch was restored too: bob's arrival reaches the same handler, unchanged.
  const bob = await mode.client(t, 'bob');
  t.match((await aliceSees.next('bob online')).payload, { action: 'online', id: 'bob' });
  await bob.disconnect();
  t.match((await aliceSees.next('bob offline')).payload, { action: 'offline', id: 'bob' });

  // The new connection's will carries the new epoch: drop it again and read the will that fires.
  line.drop();
  t.match((await watch.find((m) => m.topic === 'presence/user/alice', 'alice offline again')).json, { action: 'offline', reason: mode.reasons.lost });
  t.match(await announced.next('the second will'), { action: 'offline', epoch: rebirth.epoch }, 'the birth after the reconnect carries the new will\'s epoch');
  await connection.find((r) => r.payload.status === 'connected', 'connected a third time');
  t.match(await announced.next('the third birth'), { action: 'online' });
  t.same(announced.all.map((a) => a.action), ['online', 'offline', 'online', 'offline', 'online'], 'one birth per connection');
  t.same(aliceSees.unread(), []);
}, { users });

forEachMode(t, 'a change missed while reconnecting is delivered once, from the retained state', async (t, mode) => {
  const line = await mode.droppable(t, 'alice-1');
  const watch = await mode.watcher(t);
  const bob = await mode.client(t, 'bob');
  const alice = await mode.client(t, 'alice', { url: line.url, clientId: 'alice-1', reconnectPeriodMs: 1500 });
  const aliceSees = new Recorder(alice);
  const connection = new Recorder(alice, ['CONNECTION']);
  await alice.subscribeUserPresence({ userIds: ['bob'] });
  t.match((await aliceSees.next('bob snapshot')).payload, { action: 'online', id: 'bob' });

  line.drop();
  await watch.find((m) => m.topic === 'presence/user/alice' && m.json.action === 'offline', 'alice offline');
  await bob.disconnect();
  await watch.find((m) => m.topic === 'presence/user/bob' && m.json.action === 'offline', 'bob offline');
  await connection.find((r) => r.payload.status === 'connected', 'alice reconnected');
  const missed = await aliceSees.next('bob offline, missed while away');
  t.equal(missed.event, IM_EVENT.USER_PRESENCE, 'a newer retained state is a change');
  t.match(missed.payload, { action: 'offline', id: 'bob' });
  t.equal(alice.presenceOf('bob')?.action, 'offline');
  // A later subscription round trip proves nothing else (like the same offline again) is queued.
  await alice.subscribeUserPresence({ userIds: ['bob'] });
  await alice.unsubscribeUserPresence({ userIds: ['bob'] });
  t.same(aliceSees.unread(), []);
  t.equal(alice.presenceOf('bob'), undefined, 'unwatched users are forgotten');
}, { users });

forEachMode(t, 'errors: coded, through onFailed and the rejected promise alike', async (t, mode) => {
  const { mqttUrl } = mode;

  const failed: { code: number; content: string }[] = [];
  const invalid = await connect({ url: mqttUrl, id: 'a/b', onFailed: (e) => failed.push(e) }).catch((e: unknown) => e);
  t.type(invalid, PresenceClientError);
  t.match(invalid, { code: ERROR_CODE.INVALID_ARGUMENT, content: /not a valid user id: contains '\/'/ });
  t.same(failed, [{ code: 400, content: (invalid as PresenceClientError).content }], 'onFailed got {code, content}');

  await t.rejects(connect({ url: mqttUrl } as never), { code: ERROR_CODE.INVALID_ARGUMENT, content: /not a valid user id: not a string/ });
  await t.rejects(connect({ url: mqttUrl, id: 'x', clientId: 'a+b' }), { code: ERROR_CODE.INVALID_ARGUMENT, content: /clientId "a\+b" is not valid/ });
  await t.rejects(connect({ url: 'http://example', id: 'x' }), { code: ERROR_CODE.INVALID_ARGUMENT, content: /url must be/ });
  await t.rejects(connect({ url: mqttUrl, id: 'x', data: [] as never }), { code: ERROR_CODE.INVALID_ARGUMENT, content: /data must be a JSON object/ });

  const big = { blob: 'x'.repeat(2000) };
  if (mode.name === 'serve') {
    // over the server's 1 KiB data limit: the will is refused with CONNACK 5
    await t.rejects(connect({ url: mqttUrl, id: 'big', data: big }), { code: ERROR_CODE.NOT_AUTHORIZED, content: /CONNACK 5/ });
  } else {
    // Mosquitto knows nothing of the limit and accepts the connection; the bridge refuses the birth,
    // says why, and the user never becomes online. A later query is answered after the birth was seen.
    await mode.client(t, 'big', { data: big });
    const q = await mode.querier(t, 'watcher', 'watcher-q');
    t.same(await q.result('hereNow', { userIds: ['big'] }), { users: [{ id: 'big', online: false, data: {}, seq: 0 }] }, 'big is not online');
    t.ok(
      mode.logs.some((l) => l.msg === 'announcement dropped' && /over the \d+-byte limit/.test(String(l.reason))),
      'the bridge logged why it dropped the birth',
    );
  }

  // nobody listening
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await t.rejects(connect({ url: `mqtt://127.0.0.1:${port}`, id: 'x' }), { code: ERROR_CODE.UNREACHABLE });

  // a server that accepts the socket and never answers CONNECT
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const silentUrl = `mqtt://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  await t.rejects(connect({ url: silentUrl, id: 'x', timeoutMs: 300 }), { code: ERROR_CODE.TIMEOUT });

  // the longest valid user id still gets a valid default client id
  const longest = await mode.client(t, LONGEST_ID);
  t.ok(Array.from(longest.clientId).length <= 128 && longest.clientId.startsWith('é'.repeat(119) + '-'));

  const alice = await mode.client(t, 'alice');
  await t.rejects(alice.subscribeUserPresence({ userIds: [] }), { code: ERROR_CODE.INVALID_ARGUMENT, content: /non-empty array/ });
  await t.rejects(alice.subscribeUserPresence({ userIds: ['ok', 'x#'] }), { code: ERROR_CODE.INVALID_ARGUMENT, content: /userIds\[1\] "x#"/ });
  await t.rejects(alice.subscribeGroup({} as never), { code: ERROR_CODE.INVALID_ARGUMENT });
  await t.rejects(alice.subscribeGroup({ groupIds: ['$sys'] }), { code: ERROR_CODE.INVALID_ARGUMENT, content: /starts with '\$'/ });

  // A client set up with a layout that points its group topics at the server's private topics.
  const misconfigured = await mode.client(t, 'mis', { layout: { groupPrefix: 'presence/conn' } });
  if (mode.name === 'serve') {
    // The embedded broker refuses the SUBACK (0x80).
    await t.rejects(misconfigured.subscribeGroup({ groupIds: ['g'] }), { code: ERROR_CODE.NOT_AUTHORIZED, content: /refused the subscription to presence\/conn\/g/ });
  } else {
    // Mosquitto never refuses a SUBSCRIBE under an ACL file: it checks read access per message, so the
    // subscription is granted and delivers nothing. Membership in attach mode is the announcement,
    // which the layout did not touch: mis is a member of g, as the bridge answers.
    await misconfigured.subscribeGroup({ groupIds: ['g'] });
    const q = await mode.querier(t, 'watcher', 'watcher-mis');
    t.same(await q.result('whereNow', { userId: 'mis' }), { userId: 'mis', groups: ['g'] }, 'a member by its announcement');
  }

  await alice.disconnect();
  await alice.disconnect(); // twice is fine
  await t.rejects(alice.subscribeUserPresence({ userIds: ['bob'] }), { code: ERROR_CODE.NOT_CONNECTED, content: /disconnected/ });

  // Callback-style code that never looks at the promise does not produce an unhandled rejection.
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const viaCallback = await new Promise<{ code: number; content: string }>((resolve) => {
    void alice.subscribeGroupPresence({ groupIds: ['g'], onFailed: resolve });
  });
  t.equal(viaCallback.code, ERROR_CODE.NOT_CONNECTED);
  // Node reports unhandled rejections when the microtask queue drains, before the next macrotask.
  await new Promise((resolve) => setImmediate(resolve));
  t.same(unhandled, [], 'no unhandled rejection');
}, { users });
