import type { UserData } from '../core/events.js';

/** What a CONNECT offers to prove who it is. */
export interface Credentials {
  clientId: string;
  username?: string;
  password?: Buffer;
  remoteAddress?: string;
}

/** An accepted identity: the user id and what the server itself knows about that user. */
export interface Principal {
  userId: string;
  /** Server-side user data; wins over what the client declares. */
  data?: UserData;
  /** Groups the user may join; undefined means no list (see the policy for what that allows). */
  groups?: readonly string[];
  /** Milliseconds since the epoch when the credential stops being valid; the connection is closed then. */
  expiresAt?: number;
}

/**
 * CONNACK codes an authenticator's refusal may carry (MQTT 3.1.1): 4 is counted as
 * `bad_user_name_or_password`, 5 as `not_authorized`; `reason` is the words (src/log/refusals.ts).
 */
export type ConnackRefusalCode = 4 | 5;

/**
 * `accepted`, when given, is called once the broker has admitted the connection (and never for one it
 * refuses after authentication, say at the per-user connection cap): what an authenticator learns from a
 * credential (a token's groups) takes effect only then, so a refused CONNECT leaves no state behind.
 */
export type AuthOutcome = { ok: true; principal: Principal; accepted?: () => void } | { ok: false; code: ConnackRefusalCode; reason: string };

/**
 * One way of proving identity (a users file, signed tokens, custom code). `claims` says whether the
 * credentials are this authenticator's kind at all, so several can be configured side by side.
 */
export interface Authenticator {
  readonly name: string;
  claims(credentials: Credentials): boolean;
  authenticate(credentials: Credentials): Promise<AuthOutcome>;
  /** Re-reads whatever backs it (SIGHUP); a failure keeps the previous state and throws. */
  reload?(): Promise<void>;
  /** Trusted data and allowed groups for a user, when this authenticator knows the user. */
  lookup?(userId: string): { data?: UserData; groups?: readonly string[] } | undefined;
}

/** Tries each authenticator that claims the credentials, in order; the first to claim decides. */
export async function authenticateWith(authenticators: readonly Authenticator[], credentials: Credentials): Promise<AuthOutcome> {
  if (credentials.username === undefined && credentials.password === undefined) {
    return { ok: false, code: 5, reason: 'not authorized: credentials are required' };
  }
  for (const authenticator of authenticators) {
    if (authenticator.claims(credentials)) return authenticator.authenticate(credentials);
  }
  return { ok: false, code: 4, reason: 'bad user name or password: no authenticator accepts these credentials' };
}
