import { MAX_ID_LENGTH, invalidIdReason } from '../protocol/ids.js';
import { DEFAULT_LAYOUT, Topics, type TopicLayout } from '../protocol/topics.js';
import type { PresenceClient } from './client.js';
import type { ConnectionSettings } from './connection.js';
import { ERROR_CODE, failure } from './errors.js';
import { mqttTransport } from './mqtt-transport.js';
import { newEpoch } from './payloads.js';
import type { TransportFactory } from './transport.js';
import type { Callbacks, UserData } from './types.js';

export interface ConnectOptions extends Callbacks<PresenceClient> {
  /** `mqtt://host:1883`, or `ws://host:8080/mqtt` (browsers). */
  url: string;
  /** The user id (sent as the MQTT username). */
  id: string;
  /** Shown to everyone watching this user, e.g. `{name, avatar}`; a JSON object. */
  data?: UserData;
  password?: string;
  /** The connection id; default `<id>-<random>`, so every tab or device is its own connection. */
  clientId?: string;
  /** Per-call and CONNECT timeout (default 10 s). */
  timeoutMs?: number;
  /** Delay between reconnection attempts (default 1 s); 0 turns reconnection off. */
  reconnectPeriodMs?: number;
  /** MQTT keepalive (default 30 s): a dead link is noticed after 1.5 times this. */
  keepaliveSeconds?: number;
  /** Topic prefixes, when the server was started with other ones. */
  layout?: Partial<TopicLayout>;
  /** The MQTT transport (default mqtt.js). */
  transport?: TransportFactory;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** The connect options, checked (INVALID_ARGUMENT naming the first bad one) and with their defaults. */
export function checkConnectOptions(options: ConnectOptions): ConnectionSettings & { data: UserData } {
  const { url, id, data = {}, password } = options;
  if (typeof url !== 'string' || !/^(mqtts?|wss?|tcp|tls):\/\//.test(url)) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, `url must be an mqtt://, mqtts://, ws:// or wss:// URL, not ${JSON.stringify(url)}`);
  }
  const idProblem = invalidIdReason(id);
  if (idProblem) throw failure(ERROR_CODE.INVALID_ARGUMENT, `id ${JSON.stringify(id)} is not a valid user id: ${idProblem}`);
  const clientId = options.clientId ?? defaultClientId(id);
  const clientIdProblem = invalidIdReason(clientId);
  if (clientIdProblem || typeof clientId !== 'string') throw failure(ERROR_CODE.INVALID_ARGUMENT, `clientId ${JSON.stringify(clientId)} is not valid: ${clientIdProblem}`);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, 'data must be a JSON object');
  }
  if (password !== undefined && typeof password !== 'string') throw failure(ERROR_CODE.INVALID_ARGUMENT, 'password must be a string');
  return {
    url,
    userId: id,
    clientId,
    password,
    data: plainJson(data),
    topics: new Topics({ ...DEFAULT_LAYOUT, ...options.layout }),
    timeoutMs: positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs'),
    keepaliveSeconds: positive(options.keepaliveSeconds, 30, 'keepaliveSeconds'),
    reconnectPeriodMs: options.reconnectPeriodMs === 0 ? 0 : positive(options.reconnectPeriodMs, 1000, 'reconnectPeriodMs'),
    transport: options.transport ?? mqttTransport,
  };
}

/** `<id>-<8 hex>`, the id shortened when needed so the whole stays a valid id (at most 128 characters). */
function defaultClientId(id: string): string {
  return `${Array.from(id).slice(0, MAX_ID_LENGTH - 9).join('')}-${newEpoch().slice(0, 8)}`;
}

function plainJson(data: UserData): UserData {
  try {
    return JSON.parse(JSON.stringify(data)) as UserData;
  } catch (error) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, `data must be serializable as JSON: ${(error as Error).message}`);
  }
}

function positive(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw failure(ERROR_CODE.INVALID_ARGUMENT, `${name} must be a positive number`);
  }
  return value;
}
