/** The demo page's one connection, shared by the sections of the page (app.ts sets it). */
import type { PresenceClient } from '../../client/index.js';

export const session: { client: PresenceClient | undefined } = { client: undefined };
