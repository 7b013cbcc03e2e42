import type { Aedes } from 'aedes';
import type { BrokerContext } from './context.js';
import { restoredMemberships } from './subscribe.js';

/**
 * Connection lifecycle -> presence. `clientReady` is online; `clientDisconnect` is offline unless it
 * was a session takeover. aedes runs a takeover as: old will, old `clientDisconnect`, new `client`, all
 * in one synchronous run, so waiting one microtask before deciding tells the two apart.
 */
export function wireLifecycle(broker: Aedes, ctx: BrokerContext): void {
  broker.on('client', (client) => ctx.sessions.attach(client));

  broker.on('clientReady', (client) => {
    // aedes still reports ready a connection that closed while its CONNACK was being sent (its peer
    // hung up); that connection's `clientDisconnect` has already passed, so an up now would never end.
    if (ctx.closing() || client.closed) return;
    const identity = ctx.sessions.identity(client);
    if (!identity) return;
    void ctx.tracker.connectionUp({
      userId: identity.userId,
      connectionId: client.id,
      data: identity.data,
      epoch: identity.epoch,
    });
    if (!client.clean) {
      for (const groupId of restoredMemberships(ctx, client)) void ctx.tracker.join(identity.userId, groupId);
    }
  });

  broker.on('keepaliveTimeout', (client) => ctx.sessions.markEnding(client, 'keepalive_timeout'));

  broker.on('clientDisconnect', (client) => {
    if (ctx.closing()) return;
    ctx.sessions.detach(client);
    const identity = ctx.sessions.identity(client);
    if (!identity) return;
    queueMicrotask(() => {
      const successor = ctx.sessions.current(client.id);
      const successorUser = successor && successor !== client ? ctx.sessions.identity(successor)?.userId : undefined;
      // Taken over by the same user: the connection lives on under the new socket.
      if (successorUser === identity.userId) return;
      const reason = successorUser ? 'takeover' : ctx.sessions.endingOf(client);
      void ctx.tracker.connectionDown({ userId: identity.userId, connectionId: client.id, reason });
    });
  });
}

