import type { Security } from '../auth/security.js';
import { sendJson, type Router } from './router.js';

/** What the demo page must ask for before it connects: `GET /demo/config.json`. */
export interface DemoConfig {
  /** Clients must authenticate (anonymous CONNECTs are refused with CONNACK 5/4). */
  authRequired: boolean;
  /** A password from the users file (`--users-file`): the page shows a password field. */
  password: boolean;
  /** A signed token (`--jwt-secret-file` / `--jwt-public-key-file`): the page shows a token field. */
  token: boolean;
}

/**
 * Serves the demo page's configuration: which credential fields to show. It says only what a refused
 * CONNECT would say anyway (that credentials are needed, and of which kind), never who the users are.
 */
export function registerDemoConfig(router: Router, security: Pick<Security, 'authRequired' | 'authenticatorNames'>): Router {
  return router.get(/^\/demo\/config\.json$/, (_req, res) => {
    const names = security.authenticatorNames;
    const config: DemoConfig = {
      authRequired: security.authRequired,
      password: names.includes('users-file') || (security.authRequired && !names.includes('jwt')),
      token: names.includes('jwt'),
    };
    sendJson(res, 200, config);
  });
}
