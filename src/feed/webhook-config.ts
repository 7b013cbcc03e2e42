import { readFileSync } from 'node:fs';

/**
 * Webhook receivers and delivery limits (docs/webhooks.md): the same keys for `serve` and `attach`,
 * spread into each mode's config schema like the query API's.
 *
 * Receivers come from two places that add up: `webhooks` (config file, one object per receiver) and
 * `webhook` (`--webhook URL`, repeatable: plain URLs). `webhookSecretFile` (`--webhook-secret-file`) is
 * the secret of every receiver that names none of its own.
 */
export interface WebhookConfig {
  webhooks?: WebhookReceiverConfig[];
  /** `--webhook URL`, repeatable. */
  webhook?: string[];
  /** `--webhook-secret-file FILE`: the secret for receivers without `secret` or `secretFile`. */
  webhookSecretFile?: string;
  /** Events held per receiver (queued, in flight, being batched); beyond it the oldest batches are dropped. */
  webhookMaxQueue: number;
  /** How long one batch is retried before it is dropped, in ms (default one hour). */
  webhookRetryForMs: number;
  /** First retry delay in ms; it doubles per failed try, with jitter, up to `webhookMaxBackoffMs`. */
  webhookBackoffMs: number;
  /** Longest delay between two tries, in ms (the contract's 60 s at most). */
  webhookMaxBackoffMs: number;
  /** One try's time limit, in ms, from the request until the receiver's status line. */
  webhookTimeoutMs: number;
  /** At shutdown, how long pending batches may still take to go out, in ms. */
  webhookShutdownMs: number;
}

export interface WebhookReceiverConfig {
  /** http(s) URL the batches are POSTed to. */
  url: string;
  /** HMAC-SHA256 key; prefer `secretFile`, which keeps it out of the config file. */
  secret?: string;
  /** A file holding the secret (surrounding whitespace ignored). */
  secretFile?: string;
  /** Actions delivered (`online`, `offline`, `join`, `leave`, ...); all when absent. */
  events?: string[];
}

export const DEFAULT_WEBHOOK_CONFIG: WebhookConfig = {
  webhookMaxQueue: 10_000,
  webhookRetryForMs: 3_600_000,
  webhookBackoffMs: 1000,
  webhookMaxBackoffMs: 60_000,
  webhookTimeoutMs: 5000,
  webhookShutdownMs: 5000,
};

/** Events per batch and the longest an event waits for its batch to fill (the contract's numbers). */
export const BATCH_MAX_EVENTS = 100;
export const BATCH_MAX_WAIT_MS = 250;

const URL_SCHEMA = { type: 'string', pattern: '^https?://[^\\s]+$', maxLength: 2048 } as const;
const FILE_SCHEMA = { type: 'string', minLength: 1, maxLength: 4096 } as const;

/** JSON Schema properties for the keys above. */
export const WEBHOOK_CONFIG_PROPERTIES = {
  webhooks: {
    type: 'array',
    maxItems: 64,
    nullable: true,
    items: {
      type: 'object',
      properties: {
        url: URL_SCHEMA,
        secret: { type: 'string', minLength: 1, maxLength: 4096, nullable: true },
        secretFile: { ...FILE_SCHEMA, nullable: true },
        events: { type: 'array', minItems: 1, maxItems: 64, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 64 }, nullable: true },
      },
      required: ['url'],
      additionalProperties: false,
    },
  },
  webhook: { type: 'array', maxItems: 64, items: URL_SCHEMA, nullable: true },
  webhookSecretFile: { ...FILE_SCHEMA, nullable: true },
  // Two full batches at least: the one in flight and one being filled are never the ones dropped.
  webhookMaxQueue: { type: 'integer', minimum: 2 * BATCH_MAX_EVENTS, maximum: 10_000_000, nullable: true },
  webhookRetryForMs: { type: 'integer', minimum: 0, maximum: 7 * 86_400_000, nullable: true },
  webhookBackoffMs: { type: 'integer', minimum: 1, maximum: 60_000, nullable: true },
  webhookMaxBackoffMs: { type: 'integer', minimum: 1, maximum: 60_000, nullable: true },
  webhookTimeoutMs: { type: 'integer', minimum: 1, maximum: 60_000, nullable: true },
  webhookShutdownMs: { type: 'integer', minimum: 0, maximum: 600_000, nullable: true },
} as const;

/** What spans the keys; the problem in words, or undefined when consistent. */
export function webhookConfigProblem(config: WebhookConfig): string | undefined {
  if (config.webhookBackoffMs > config.webhookMaxBackoffMs) return 'webhookBackoffMs must not exceed webhookMaxBackoffMs';
  for (const receiver of config.webhooks ?? []) {
    if (receiver.secret !== undefined && receiver.secretFile !== undefined) return `webhook ${redactUrl(receiver.url)}: give secret or secretFile, not both`;
  }
  for (const url of [...(config.webhooks ?? []).map((r) => r.url), ...(config.webhook ?? [])]) {
    if (!URL.canParse(url)) return `webhook ${JSON.stringify(url.slice(0, 64))} is not a valid URL`;
  }
  return undefined;
}

/** One receiver, ready to deliver to: the secret read, the filter a set. */
export interface Receiver {
  /** Position in the list (file receivers first, then `--webhook` ones): the metrics' and logs' label. */
  index: number;
  url: string;
  /** host[:port] only: what logs and metrics show, since a URL's path or query may hold a token. */
  host: string;
  secret?: string;
  /** Delivered actions; undefined delivers all. */
  actions?: ReadonlySet<string>;
}

export class WebhookConfigError extends Error {}

/** The receivers a config names, with their secret files read; throws WebhookConfigError on a bad file. */
export function webhookReceivers(config: WebhookConfig): Receiver[] {
  const listed: WebhookReceiverConfig[] = [...(config.webhooks ?? []), ...(config.webhook ?? []).map((url) => ({ url }))];
  const secrets = new Map<string, string>();
  const readSecret = (file: string): string => {
    let secret = secrets.get(file);
    if (secret === undefined) {
      try {
        secret = readFileSync(file, 'utf8').trim();
      } catch (error) {
        throw new WebhookConfigError(`cannot read webhook secret file ${file}: ${(error as Error).message}`);
      }
      if (!secret) throw new WebhookConfigError(`webhook secret file ${file} is empty`);
      secrets.set(file, secret);
    }
    return secret;
  };
  return listed.map((entry, index) => {
    const file = entry.secret === undefined ? (entry.secretFile ?? config.webhookSecretFile) : undefined;
    return {
      index,
      url: entry.url,
      host: new URL(entry.url).host,
      secret: entry.secret ?? (file === undefined ? undefined : readSecret(file)),
      actions: entry.events ? new Set(entry.events) : undefined,
    };
  });
}

/** A URL as logs may show it: scheme and host, no credentials, path or query. */
export function redactUrl(url: string): string {
  return URL.canParse(url) ? `${new URL(url).protocol}//${new URL(url).host}` : '(invalid URL)';
}
