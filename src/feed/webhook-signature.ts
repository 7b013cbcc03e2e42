import { createHmac } from 'node:crypto';

export const TIMESTAMP_HEADER = 'X-Presence-Timestamp';
export const SIGNATURE_HEADER = 'X-Presence-Signature';

/**
 * The signature of one try: `sha256=` + hex HMAC-SHA256 keyed with the receiver's secret over
 * `<timestamp>.<body>`, timestamp in ms since the epoch as sent in X-Presence-Timestamp (the scheme of
 * Stripe's and Slack's webhooks; docs/webhooks.md shows a receiver checking it).
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The headers of one try (a fresh timestamp per try, so a retry an hour later still passes a tolerance check). */
export function webhookHeaders(body: string, secret: string | undefined, now: number): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'presence-bridge-webhooks' };
  if (secret !== undefined) {
    headers[TIMESTAMP_HEADER] = String(now);
    headers[SIGNATURE_HEADER] = webhookSignature(secret, now, body);
  }
  return headers;
}
