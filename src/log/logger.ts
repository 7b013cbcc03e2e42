/**
 * JSON-lines logging: one object per line, machine-readable first, as operators of brokers expect. Each
 * line has `time` (ISO 8601), `level` (`debug` | `info` | `warn` | `error`), `msg`, then the logger's
 * bound fields and the call's fields. Written by pino (the logger of the aedes and fastify ecosystem):
 * synchronous to stdout by default, so nothing is lost when the process exits (docs/architecture.md "Logging").
 */
import { destination as pinoDestination, pino, stdTimeFunctions, type Logger as Pino } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** Receives each line without its newline (tests collect and parse them). */
export type LogSink = (line: string) => void;

/** A logger at `level` and above, writing to `sink` (stdout by default), with `base` on every line. */
export function createLogger(level: LogLevel = 'info', sink?: LogSink, base: Record<string, unknown> = {}): Logger {
  const destination = sink ? { write: (line: string) => sink(line.endsWith('\n') ? line.slice(0, -1) : line) } : pinoDestination({ dest: 1, sync: true });
  const logger = pino(
    {
      level,
      base,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: plain },
    },
    destination,
  );
  return wrap(logger);
}

function wrap(logger: Pino): Logger {
  return {
    debug: (msg, fields) => logger.debug(fields ?? {}, msg),
    info: (msg, fields) => logger.info(fields ?? {}, msg),
    warn: (msg, fields) => logger.warn(fields ?? {}, msg),
    error: (msg, fields) => logger.error(fields ?? {}, msg),
    child: (fields) => wrap(logger.child(plain(fields))),
  };
}

/**
 * Fields as JSON can carry them, at any depth: an Error becomes `{name, message, stack}` (pino's own
 * serializer covers only a top-level `err`), a bigint its decimal string.
 */
function plain(fields: Record<string, unknown>): Record<string, unknown> {
  return convert(fields, new WeakSet()) as Record<string, unknown>;
}

function convert(value: unknown, seen: WeakSet<object>): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  const proto = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value;
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => convert(item, seen));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, convert(item, seen)]));
}

export const silentLogger: Logger = createLogger('error', () => {});
