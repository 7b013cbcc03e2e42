import { finished } from 'node:stream';
import type { AuthenticateError, Client } from 'aedes';
import { invalidIdReason } from '../protocol/ids.js';
import { parseConnAnnouncement } from '../announcements.js';
import type { UserData } from '../core/events.js';
import { pendingWill } from './aedes-internals.js';
import type { BrokerContext } from './context.js';
import { RefusalLog } from '../log/refusal-log.js';
import { refusal, type Refusal, type RefusalCode, type Result } from '../log/refusals.js';
import { connectStringRefusal } from './string-guard.js';
import type { Identity } from './sessions.js';

/** CONNACK return codes of MQTT 3.1.1 that a refusal can carry. */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** setTimeout's ceiling; a later expiry is re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type Done = (error: AuthenticateError | null, success: boolean | null) => void;

/**
 * CONNECT: settles who the connection is and reads the user data from a will on the connection's own
 * announcement topic, so the `online` event already carries it. With authentication configured the
 * user id is what the credentials prove; without it, the username (else the client id) is taken on
 * trust. Refusing here is the only way to get a CONNACK with a reason code back to the client.
 */
export function authenticate(ctx: BrokerContext) {
  const refusals = new RefusalLog(ctx.log);
  return (client: Client, username: string | undefined, password: Buffer | undefined, done: Done): void => {
    decide(ctx, client, username, password).then(
      (result) => {
        if (!result.ok) {
          const { returnCode, code, detail } = result.refusal;
          refusals.warn('connection refused', result.refusal, { clientId: client.id, username, address: remoteAddress(client), returnCode });
          ctx.refused('connection', code);
          done(Object.assign(new Error(detail), { returnCode }) as AuthenticateError, false);
          return;
        }
        done(null, true);
      },
      (error: unknown) => {
        ctx.log.error('authentication failed', { clientId: client.id, code: 'internal_error', error });
        ctx.refused('connection', 'internal_error');
        done(Object.assign(new Error('server unavailable'), { returnCode: SERVER_UNAVAILABLE }) as AuthenticateError, false);
      },
    );
  };
}

/** A refused CONNECT: the refusal and the CONNACK return code it is answered with. */
type ConnectRefusal = Refusal & { returnCode: number };
type Outcome = Result<Identity, ConnectRefusal>;

async function decide(ctx: BrokerContext, client: Client, username: string | undefined, password: Buffer | undefined): Promise<Outcome> {
  const { security } = ctx;
  const address = remoteAddress(client);
  if (!security.admitConnectFrom(address)) {
    return refuse(SERVER_UNAVAILABLE, 'connect_rate_exceeded', `connect rate exceeded: more than ${security.limits.connectRatePerIp}/s from ${address}`);
  }
  const malformed = connectStringRefusal(client, username);
  if (malformed) return { ok: false, refusal: malformed };
  const clientIdProblem = invalidIdReason(client.id);
  if (clientIdProblem) return refuse(IDENTIFIER_REJECTED, 'invalid_client_id', `invalid client id: ${clientIdProblem}`);

  let userId: string;
  let trusted: { data?: UserData; expiresAt?: number } = {};
  let accepted: (() => void) | undefined;
  if (security.authRequired) {
    // Before any password work: an account or address in back-off costs no scrypt (login-throttle.ts).
    const admission = security.logins.begin(username || undefined, address);
    if (!admission.ok) {
      const wait = Math.ceil(admission.retryAfterMs / 1000);
      return refuse(SERVER_UNAVAILABLE, `too_many_failed_logins_for_this_${admission.scope}`, `too many failed logins for this ${admission.scope}: retry in ${wait} s`);
    }
    const { attempt } = admission;
    const outcome = await security.authenticate({ clientId: client.id, username, password, remoteAddress: address }).catch((error: unknown) => {
      attempt.released();
      throw error;
    });
    if (outcome.ok) attempt.succeeded();
    else if (outcome.code === BAD_USERNAME_OR_PASSWORD) attempt.failed();
    else attempt.released();
    // An authenticator (custom ones included) answers with a CONNACK code and words; the code names the refusal.
    if (!outcome.ok) return refuse(outcome.code, outcome.code === BAD_USERNAME_OR_PASSWORD ? 'bad_user_name_or_password' : 'not_authorized', outcome.reason);
    userId = outcome.principal.userId;
    trusted = outcome.principal;
    accepted = outcome.accepted;
  } else {
    // An empty username is what several client libraries send for "none": the client id stands in.
    const fromUsername = username !== undefined && username !== '';
    userId = fromUsername ? username : client.id;
    const userIdProblem = invalidIdReason(userId);
    if (userIdProblem) {
      return refuse(fromUsername ? BAD_USERNAME_OR_PASSWORD : IDENTIFIER_REJECTED, 'invalid_user_id', `invalid user id: ${userIdProblem}`);
    }
  }

  const identity: Identity = { userId, clientId: client.id, authenticated: security.authRequired };
  // Neither a username nor a client id of its own (mosquitto_sub's default): an observer.
  if (!security.authRequired && (username === undefined || username === '') && ctx.sessions.hasGeneratedId(client)) identity.observer = true;
  const willProblem = readWill(ctx, client, identity);
  if (willProblem) return refuse(NOT_AUTHORIZED, 'will_refused', willProblem);
  if (trusted.data) identity.data = trusted.data;

  // The client may have gone while we were checking credentials; aedes ignores the answer then.
  if (client.closed || (client.conn as { destroyed?: boolean }).destroyed) return { ok: true, value: identity };
  const slot = security.admitConnection(userId, client.id, client);
  if (!slot.ok) return { ok: false, refusal: { ...slot.refusal, returnCode: NOT_AUTHORIZED } };
  const release = slot.value;
  // Last, as nothing after it refuses: a refused CONNECT claims no client id and changes no user's grants.
  const claim = security.authRequired ? await ctx.clientIds.claim(client.id, userId, !client.clean) : undefined;
  if (claim && !claim.ok) {
    release();
    return refuse(NOT_AUTHORIZED, 'client_id_belongs_to_another_user', `client id belongs to another user: '${client.id}' is held by another user's connection or persistent session`);
  }
  finished(client.conn, () => {
    release();
    if (claim?.ok) claim.release();
    security.reservations.abandon(client); // joins authorized in a packet aedes never accepted
  });
  accepted?.();
  ctx.sessions.remember(client, identity);
  if (trusted.expiresAt !== undefined) closeAtExpiry(ctx, client, trusted.expiresAt);
  return { ok: true, value: identity };
}

/** Why the will is refused, or undefined; a will on the own announcement topic supplies the user data. */
function readWill(ctx: BrokerContext, client: Client, identity: Identity): string | undefined {
  const will = pendingWill(client);
  if (!will) return undefined;
  if (will.topic.startsWith('$')) return `will refused: topic '${will.topic}' is reserved`;
  if (!ctx.topics.isUnderPrefix(will.topic)) {
    const groupId = ctx.security.watchesAll ? undefined : ctx.topics.membershipOf(will.topic);
    // As every publish there (group-access.ts); refused now, when the client can still be told.
    if (groupId !== undefined && !ctx.security.mayJoin(identity.userId, groupId)) return `will refused: group '${groupId}' not allowed for this user`;
    return undefined;
  }
  const own = ctx.topics.conn(identity.userId, client.id);
  if (will.topic !== own) return `will refused: only '${own}' may carry a will under '${ctx.topics.prefix}/'`;
  const announcement = parseConnAnnouncement(will.payload, ctx.maxDataBytes);
  if (!announcement.ok) return `will refused: ${announcement.refusal.detail}`;
  if (announcement.value.action !== 'offline') return "will refused: action must be 'offline'";
  identity.data = announcement.value.data;
  identity.epoch = announcement.value.epoch;
  return undefined;
}

/** A connection may not outlive its credential: at expiry it is closed and its user goes offline. */
function closeAtExpiry(ctx: BrokerContext, client: Client, expiresAt: number): void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const wait = expiresAt - Date.now();
    if (wait > MAX_TIMER_MS) {
      timer = setTimeout(arm, MAX_TIMER_MS);
      return;
    }
    timer = setTimeout(() => {
      if (client.closed) return;
      ctx.log.info('credential expired: closing connection', { clientId: client.id, userId: ctx.sessions.identity(client)?.userId });
      ctx.sessions.markEnding(client, 'token_expired');
      client.close();
    }, Math.max(0, wait));
  };
  arm();
  finished(client.conn, () => clearTimeout(timer));
}

export function remoteAddress(client: Client): string | undefined {
  const socket = client.req?.socket ?? (client.conn as { remoteAddress?: string });
  return socket.remoteAddress;
}

function refuse(returnCode: number, code: RefusalCode, detail: string): Outcome {
  return { ok: false, refusal: { ...refusal(code, detail), returnCode } };
}
