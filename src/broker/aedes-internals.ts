import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Aedes, Client } from 'aedes';
import type { IncomingPersistence } from './inflight-guard.js';
import type { OutgoingPersistence } from './offline-queue.js';
import type { indexRetained } from './retained-index.js';
import type { endReplaysWithClients } from './retained-replay.js';
import type { SessionPersistence } from './session-expiry.js';
import type { guardSubscriptionStore } from './subscription-store-guard.js';

/**
 * Access to what aedes (and its mqtt-packet parser, and mqemitter-redis) do not expose as API, in one
 * place: each function here relies on an internal of aedes 1.2 (pinned ~1.2.0) and says which.
 * `assertAedesShape` checks all of them once at start-up; test/aedes-internals.test.ts fails if one
 * moves, and test/protocol-layering.test.ts fails if any other src file reaches one.
 *
 * "Internal" (docs/architecture.md "aedes internals"): an underscore field or method, a field aedes sets
 * but does not document (`aedes.persistence`, `aedes.clients`, `client.subscriptions`...), or replacing
 * one of aedes' own methods. Not internal: the documented handlers (`authenticate`, `preConnect`, ...),
 * events, and wrapping a persistence's methods, which are the documented aedes-persistence interface.
 */

/** The aedes-persistence interface methods the broker wraps (each wrapping file names its half). */
export type AedesPersistence = Parameters<typeof indexRetained>[0] & Parameters<typeof guardSubscriptionStore>[0] & OutgoingPersistence &
  Parameters<typeof endReplaysWithClients>[1] & IncomingPersistence & SessionPersistence & { delWill(client: { id: string; brokerId: string }): Promise<unknown> };

/** What of mqtt-packet's parser is used: its `packet` event and the packet being parsed. */
export interface PacketParser {
  readonly packet: { cmd?: string; length: number };
  prependListener(event: 'packet', fn: (packet: { cmd: string; subscriptions?: { topic: string }[] }) => void): void;
}

/** The parser as it is inside (mqtt-packet 9 `Parser`): its length and string decoders, buffer and position. */
interface RawParser extends PacketParser {
  _parseLength(): boolean;
  _parseString(maybeBuffer?: boolean): string | null;
  _emitError(error: Error): void;
  _pos: number;
  _list: { length: number; readUInt16BE(offset: number): number; slice(start: number, end: number): Buffer };
}

/** aedes' own fields on a Client (lib/client.js). */
interface RawClient {
  _will?: { topic: string; payload: Buffer } | null;
  _disconnected?: boolean;
  _parser?: RawParser;
  subscriptions?: Record<string, unknown>;
}

/** aedes' own fields on the broker (aedes.js). */
interface RawAedes {
  persistence: AedesPersistence;
  maxTopicLevels: number;
  clients: Record<string, Client | undefined>;
  connectedClients: number;
  unregisterClient(client: Client): void;
}

const raw = (aedes: Aedes) => aedes as Aedes & RawAedes;
const rawClient = (client: Client) => client as Client & RawClient;

/** `aedes.persistence`: the persistence aedes was given (or its in-memory default), set by `listen()`. */
export function persistenceOf(aedes: Aedes): AedesPersistence {
  return raw(aedes).persistence;
}

/** `aedes.maxTopicLevels`: the option, clamped by aedes to 1..100. */
export function maxTopicLevelsOf(aedes: Aedes): number {
  return raw(aedes).maxTopicLevels;
}

/** `client._will`: the CONNECT's will while `authenticate` runs (aedes moves it to `client.will` after). */
export function pendingWill(client: Client): { topic: string; payload: Buffer } | null {
  return rawClient(client)._will ?? null;
}

/** `client._disconnected`: aedes sets it only for a valid DISCONNECT packet. */
export function sentDisconnect(client: Client): boolean {
  return rawClient(client)._disconnected === true;
}

/** The filters a client is subscribed to now (`client.subscriptions`, keyed by filter). */
export function subscribedFilters(client: Client): string[] {
  return Object.keys(rawClient(client).subscriptions ?? {});
}

/** The client aedes has registered under an id (`aedes.clients`), if any. */
export function registeredClient(aedes: Aedes, clientId: string): Client | undefined {
  return raw(aedes).clients[clientId];
}

/** Takes one off `aedes.connectedClients` (a client that ends without aedes' own `unregisterClient`). */
export function uncountClient(aedes: Aedes): void {
  raw(aedes).connectedClients--;
}

/**
 * Replaces `aedes.unregisterClient(client)` (called by a closing registered client); `original` is
 * aedes' own. Returns the replacement, to call it directly.
 */
export function replaceUnregisterClient(aedes: Aedes, replacement: (client: Client, original: (client: Client) => void) => void): (client: Client) => void {
  const original = raw(aedes).unregisterClient.bind(aedes);
  const unregister = (client: Client) => replacement(client, original);
  raw(aedes).unregisterClient = unregister;
  return unregister;
}

/** Runs `fn` with every new connection's client and its mqtt-packet parser (`client._parser`), via `aedes.handle`. */
export function onNewConnection(aedes: Aedes, fn: (client: Client, parser: PacketParser) => void): void {
  const handle = aedes.handle;
  aedes.handle = (conn, req) => {
    const client = handle(conn, req);
    fn(client, rawClient(client)._parser!);
    return client;
  };
}

/**
 * Checks each packet's declared length as soon as the parser has read it (`_parseLength`), before the
 * body is buffered: an Error from `check` fails the connection (`_emitError`) and parsing stops.
 */
export function checkPacketLength(parser: PacketParser, check: (length: number) => Error | undefined): void {
  const inner = parser as RawParser;
  const parseLength = inner._parseLength;
  inner._parseLength = function checkedParseLength(this: RawParser) {
    const done = parseLength.call(this);
    const error = done ? check(this.packet.length) : undefined;
    if (!error) return done;
    this._emitError(error);
    return false;
  };
}

/**
 * Shows `seen` every length-prefixed string the parser decodes (`_parseString`): its raw bytes (read at
 * `_pos` from `_list`; undefined when not all there yet), what it decoded to (null: not all there), and
 * the packet it belongs to (which `seen` may mark; the decoded value is returned unchanged).
 */
export function watchStrings(parser: PacketParser, seen: (bytes: Buffer | undefined, decoded: string | null, packet: { cmd?: string }) => void): void {
  const inner = parser as RawParser;
  const parseString = inner._parseString;
  inner._parseString = function watchedParseString(this: RawParser, maybeBuffer?: boolean) {
    const bytes = stringBytes(this);
    const decoded = parseString.call(this, maybeBuffer);
    seen(bytes, decoded, this.packet);
    return decoded;
  };
}

function stringBytes(parser: RawParser): Buffer | undefined {
  const at = parser._pos;
  if (at + 2 > parser._list.length) return undefined;
  const end = at + 2 + parser._list.readUInt16BE(at);
  if (end > parser._list.length) return undefined;
  return parser._list.slice(at + 2, end);
}

/**
 * The client whose SUBSCRIBE aedes is answering with retained messages, for the persistence's
 * `createRetainedStreamCombi(patterns)`, which is not told.
 *
 * Relies on aedes' `completeSubscribe` (lib/handlers/subscribe.js): it emits `subscribe (subs, client)`
 * and then, in the same synchronous run, asks the persistence for the retained stream. The client
 * noted by the `subscribe` event is handed out once, and forgotten at the next microtask in case no
 * stream was asked for (every filter refused).
 */
export function retainedStreamClient(aedes: Aedes): () => Client | undefined {
  let current: Client | undefined;
  aedes.prependListener('subscribe', (_subs, client) => {
    current = client;
    queueMicrotask(() => {
      if (current === client) current = undefined;
    });
  });
  return () => {
    const client = current;
    current = undefined;
    return client;
  };
}

/** mqemitter-redis 7's private channel naming (`_subTopic`) and its publishing connection (`pubConn`). */
interface RawRedisEmitter {
  pubConn: { publish(channel: string, message: Buffer): Promise<number> };
  _subTopic(topic: string): string;
}

/**
 * Puts every Redis pub/sub channel of an mqemitter-redis under `prefix`, subscribing (`_subTopic`) and
 * publishing (`pubConn.publish`) alike. Checks those two first (start-up), like `assertAedesShape`.
 */
export function prefixRedisChannels(mq: object, prefix: string): void {
  const emitter = mq as RawRedisEmitter;
  const problems = [
    ...mismatch('mq._subTopic', emitter._subTopic, 'function'),
    ...mismatch('mq.pubConn.publish', emitter.pubConn?.publish, 'function'),
  ];
  if (problems.length > 0) throw moved('mqemitter-redis', '~7.2', problems);
  const subTopic = emitter._subTopic.bind(emitter);
  emitter._subTopic = (topic) => prefix + subTopic(topic);
  const publish = emitter.pubConn.publish.bind(emitter.pubConn);
  emitter.pubConn.publish = (channel, message) => publish(prefix + channel, message);
}

const PERSISTENCE_METHODS = [
  'storeRetained', 'createRetainedStream', 'createRetainedStreamCombi', 'addSubscriptions', 'cleanSubscriptions', 'delWill',
  'outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingUpdate', 'outgoingClearMessageId', 'outgoingStream', 'incomingStorePacket', 'incomingDelPacket',
] as const;

/**
 * Fails loudly, once at start-up (after `Aedes.createBroker`, before anything is wired), if any
 * internal this file relies on is missing or of another type: one Error naming aedes' version and
 * every field that moved. A client's fields are read off a probe client on a stream that is never
 * connected (closed again at once; it touches no persistence: it has no id and no session).
 * Not checkable there: the parser's `_pos`, which mqtt-packet sets only once a payload is parsed
 * (test/utf8-strings.test.ts covers it).
 */
export function assertAedesShape(aedes: Aedes): void {
  const broker = raw(aedes);
  const problems = [
    ...mismatch('aedes.handle', broker.handle, 'function'),
    ...mismatch('aedes.unregisterClient', broker.unregisterClient, 'function'),
    ...mismatch('aedes.clients', broker.clients, 'object'),
    ...mismatch('aedes.connectedClients', broker.connectedClients, 'number'),
    ...mismatch('aedes.maxTopicLevels', broker.maxTopicLevels, 'number'),
    ...mismatch('aedes.persistence', broker.persistence, 'object'),
    ...PERSISTENCE_METHODS.flatMap((name) => mismatch(`aedes.persistence.${name}`, broker.persistence?.[name], 'function')),
  ];
  if (typeof broker.handle === 'function') problems.push(...clientProblems(aedes));
  if (problems.length > 0) throw moved('aedes', '~1.2.0', problems);
}

function clientProblems(aedes: Aedes): string[] {
  const probe = aedes.handle(new PassThrough() as never) as Client & RawClient & { clean: boolean };
  try {
    const parser = probe._parser;
    return [
      ...mismatch('client._will', '_will' in probe ? probe._will : undefined, 'object'),
      ...mismatch('client._disconnected', probe._disconnected, 'boolean'),
      ...mismatch('client.subscriptions', probe.subscriptions, 'object'),
      ...mismatch('client._parser', parser, 'object'),
      ...mismatch('client._parser.prependListener', parser?.prependListener, 'function'),
      ...mismatch('client._parser._parseLength', parser?._parseLength, 'function'),
      ...mismatch('client._parser._parseString', parser?._parseString, 'function'),
      ...mismatch('client._parser._emitError', parser?._emitError, 'function'),
      ...mismatch('client._parser._list.readUInt16BE', parser?._list?.readUInt16BE, 'function'),
      ...mismatch('client._parser._list.slice', parser?._list?.slice, 'function'),
    ];
  } finally {
    probe.clean = false; // so that closing it asks no persistence to clean an incoming store
    probe.close();
  }
}

/** `client._will` is null until a CONNECT: `typeof null` is 'object'. */
function mismatch(path: string, value: unknown, type: 'function' | 'object' | 'number' | 'boolean'): string[] {
  const found = value === undefined ? 'undefined' : typeof value;
  return found === type ? [] : [`${path} (expected ${type}, found ${found})`];
}

function moved(pkg: string, pinned: string, problems: string[]): Error {
  return new Error(
    `${pkg} ${versionOf(pkg)} is not the ${pkg} presence-bridge was built on (${pinned}): its internals moved: ${problems.join('; ')}. ` +
      'Pin the version in package.json, or adapt src/broker/aedes-internals.ts.',
  );
}

function versionOf(pkg: string): string {
  try {
    const entry = createRequire(import.meta.url).resolve(pkg);
    for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
      try {
        const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (manifest.name === pkg) return manifest.version ?? 'of unknown version';
      } catch {
        // no package.json at this level
      }
    }
  } catch {
    // not resolvable from here
  }
  return 'of unknown version';
}
