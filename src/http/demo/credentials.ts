/**
 * The demo page's credential fields: a password (users file) and a token (JWT), shown only when the
 * server requires them, as its /demo/config.json says (src/http/demo-config.ts).
 */
import { $ } from './dom.js';

const password = $<HTMLInputElement>('user-password');
const token = $<HTMLInputElement>('user-token');

/** Asks the server which fields to show; a server without the endpoint needs none. */
export async function showCredentialFields(): Promise<void> {
  let config: { password?: boolean; token?: boolean } = {};
  try {
    const res = await fetch('/demo/config.json', { cache: 'no-store' });
    if (res.ok) config = (await res.json()) as typeof config;
  } catch {
    // no config: an open server
  }
  $('password-field').hidden = !config.password;
  $('token-field').hidden = !config.token;
}

/** The MQTT password to connect with: the token if one is given, else the password, else none. */
export function credential(): string | undefined {
  return token.value.trim() || password.value || undefined;
}

export function lockCredentials(locked: boolean): void {
  password.disabled = locked;
  token.disabled = locked;
}
