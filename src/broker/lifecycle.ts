import type { Aedes, Client } from 'aedes';
import { registeredClient, replaceUnregisterClient, uncountClient } from './aedes-internals.js';
import type { ConnectionUp } from '../core/events.js';
import type { BrokerContext } from './context.js';
import { restoredMemberships } from './subscribe.js';

/**
 * Connection lifecycle -> presence. `clientReady` is online; `clientDisconnect` is offline unless it
 * was a session takeover. aedes runs a takeover as: old will, old `clientDisconnect`, new `client`, all
 * in one synchronous run, so waiting one microtask before deciding tells the two apart.
 */
export function wireLifecycle(broker: Aedes, ctx: BrokerContext): void {
  const registry = guardRegistry(broker);
  broker.on('client', (client) => {
    registry.registered.add(client);
    // A takeover whose new connection died while the old one was being closed is still registered
    // by aedes; undo that, so the id is free and nothing mistakes the dead client for a successor.
    if (client.closed) return registry.unregister(client);
    const displaced = ctx.sessions.current(client.id);
    ctx.sessions.attach(client);
    // Two CONNECTs with one id registering at once: aedes closes the old client for only one of
    // them, and the other overwrites a live client it never closed. Finish that takeover here.
    if (displaced && displaced !== client && !displaced.closed) displaced.close();
    if (ctx.upAtRegister && !ctx.closing()) {
      const identity = ctx.sessions.identity(client);
      if (!identity || identity.observer) return;
      upAtRegistration.add(client);
      // What aedes writes to the client (CONNACK, then a persistent session's queue) waits until the up
      // is committed: a client holding CONNACK 0 from this node is in the store every node reads.
      const conn = client.conn;
      conn.cork();
      void ctx.tracker.connectionUp(upOf(identity, client)).finally(() => conn.uncork());
    }
  });

  broker.on('clientReady', (client) => {
    if (ctx.closing()) return;
    const identity = ctx.sessions.identity(client);
    if (!identity || identity.observer) return;
    // aedes still reports ready a connection that closed after its CONNACK 0 went out, while aedes was
    // finishing the session (its peer hung up at once). Its `clientDisconnect` has already passed (a
    // no-op then: it was not up yet). The client holds CONNACK 0, so the connection was established:
    // it comes online and goes offline at once, and leaves its retained record like any other, rather
    // than nothing or a dangling online depending on which side of that moment the hang-up fell.
    // Taken over meanwhile by the same user: it lives on under the successor, which brings it online.
    const successor = client.closed ? successorUserOf(ctx, client) : undefined;
    if (successor === identity.userId) return;
    // Already up since its registration (cluster): a connection that closed meanwhile was ended by its
    // `clientDisconnect`, which came after that up; nothing is left to do but restore memberships.
    const early = upAtRegistration.has(client);
    if (!early) void ctx.tracker.connectionUp(upOf(identity, client));
    if (!client.clean) {
      for (const groupId of restoredMemberships(ctx, client)) void ctx.tracker.join(identity.userId, groupId);
    }
    if (client.closed && !early) {
      const reason = successor ? 'takeover' : ctx.sessions.endingOf(client);
      void ctx.tracker.connectionDown({ userId: identity.userId, connectionId: client.id, reason });
    }
  });

  broker.on('keepaliveTimeout', (client) => ctx.sessions.markEnding(client, 'keepalive_timeout'));

  broker.on('clientDisconnect', (client) => {
    if (ctx.closing()) return;
    ctx.sessions.detach(client);
    const identity = ctx.sessions.identity(client);
    if (!identity || identity.observer) return;
    queueMicrotask(() => {
      const successorUser = successorUserOf(ctx, client);
      // Taken over by the same user: the connection lives on under the new socket.
      if (successorUser === identity.userId) return;
      const reason = successorUser ? 'takeover' : ctx.sessions.endingOf(client);
      void ctx.tracker.connectionDown({ userId: identity.userId, connectionId: client.id, reason });
    });
  });
}

/**
 * Clients brought up at their registration (`BrokerContext.upAtRegister`). Their socket is corked from
 * then until the up is committed, so no CONNACK leaves before it (docs/cluster.md, Limits): a client
 * holding CONNACK 0 from node B that at once ends the user's other device on node A never causes an
 * offline/online pair. Clean and persistent sessions alike: aedes awaits no step between registering a
 * client and writing its CONNACK that both kinds share (a clean session's `cleanIncoming` only).
 */
const upAtRegistration = new WeakSet<Client>();

function upOf(identity: { userId: string; data?: ConnectionUp['data']; epoch?: ConnectionUp['epoch'] }, client: Client): ConnectionUp {
  return { userId: identity.userId, connectionId: client.id, data: identity.data, epoch: identity.epoch };
}

/** The user of the live client that now holds `client`'s id, if another one does. */
function successorUserOf(ctx: BrokerContext, client: Client): string | undefined {
  const successor = ctx.sessions.current(client.id);
  return successor && successor !== client && !successor.closed ? ctx.sessions.identity(successor)?.userId : undefined;
}

/**
 * aedes unregisters a closing client if ANY client holds its id: a connection that dies between
 * CONNECT and its registration (say, the new side of a takeover) thereby unregisters the live
 * client under that id, whose own `clientDisconnect` then never comes, so its user would stay
 * online forever. Here a client unregisters only itself; one that was registered but has since
 * been displaced under its id by a newer client still ends (count and `clientDisconnect`), without
 * touching the newer one; one never registered has nothing to undo.
 */
function guardRegistry(broker: Aedes): Registry {
  const registered = new WeakSet<Client>();
  const unregisterClient = replaceUnregisterClient(broker, (client, unregister) => {
    const wasRegistered = registered.delete(client);
    if (registeredClient(broker, client.id) === client) return unregister(client);
    if (!wasRegistered) return;
    uncountClient(broker);
    broker.emit('clientDisconnect', client);
  });
  return { registered, unregister: unregisterClient };
}

interface Registry {
  /** Clients aedes registered (its `client` event) and that have not been unregistered since. */
  registered: WeakSet<Client>;
  /** aedes' `unregisterClient`, as guarded here. */
  unregister(client: Client): void;
}
