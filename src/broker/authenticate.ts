import type { AuthenticateError, Client } from 'aedes';
import { invalidIdReason } from '../core/ids.js';
import { parseConnAnnouncement } from '../announcements.js';
import type { BrokerContext } from './context.js';
import type { Identity } from './sessions.js';

/** CONNACK return codes of MQTT 3.1.1 that a refusal can carry. */
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

type Done = (error: AuthenticateError | null, success: boolean | null) => void;

/**
 * CONNECT: settles who the connection is (user id = username, else client id) and reads the user data
 * from a will on the connection's own announcement topic, so the `online` event already carries it.
 * Refusing here is the only way to get a CONNACK with a reason code back to the client.
 */
export function authenticate(ctx: BrokerContext) {
  return (client: Client, username: string | undefined, _password: Buffer | undefined, done: Done): void => {
    const result = identify(ctx, client, username);
    if ('refusal' in result) {
      const { code, reason } = result.refusal;
      ctx.log.warn('connection refused', { clientId: client.id, username, returnCode: code, reason });
      ctx.refused('connection', reason.split(':')[0]!);
      done(Object.assign(new Error(reason), { returnCode: code }) as AuthenticateError, false);
      return;
    }
    ctx.sessions.remember(client, result.identity);
    done(null, true);
  };
}

type Outcome = { identity: Identity } | { refusal: { code: number; reason: string } };

function identify(ctx: BrokerContext, client: Client, username: string | undefined): Outcome {
  const clientIdProblem = invalidIdReason(client.id);
  if (clientIdProblem) return refuse(IDENTIFIER_REJECTED, `invalid client id: ${clientIdProblem}`);
  // An empty username is what several client libraries send for "none": the client id stands in.
  const fromUsername = username !== undefined && username !== '';
  const userId = fromUsername ? username : client.id;
  const userIdProblem = invalidIdReason(userId);
  if (userIdProblem) {
    return refuse(fromUsername ? BAD_USERNAME_OR_PASSWORD : IDENTIFIER_REJECTED, `invalid user id: ${userIdProblem}`);
  }
  const identity: Identity = { userId, clientId: client.id };
  const will = (client as Client & { _will?: { topic: string; payload: Buffer } | null })._will;
  if (!will) return { identity };
  if (will.topic.startsWith('$')) return refuse(NOT_AUTHORIZED, `will refused: topic '${will.topic}' is reserved`);
  if (!ctx.topics.isUnderPrefix(will.topic)) return { identity };
  const own = ctx.topics.conn(userId, client.id);
  if (will.topic !== own) {
    return refuse(NOT_AUTHORIZED, `will refused: only '${own}' may carry a will under '${ctx.topics.prefix}/'`);
  }
  const announcement = parseConnAnnouncement(will.payload, ctx.maxDataBytes);
  if (!announcement.ok) return refuse(NOT_AUTHORIZED, `will refused: ${announcement.reason}`);
  if (announcement.value.action !== 'offline') return refuse(NOT_AUTHORIZED, "will refused: action must be 'offline'");
  identity.data = announcement.value.data;
  identity.epoch = announcement.value.epoch;
  return { identity };
}

function refuse(code: number, reason: string): Outcome {
  return { refusal: { code, reason } };
}
