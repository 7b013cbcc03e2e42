/**
 * Failure codes handed to `onFailed` (and carried by rejected Promises). Numeric, HTTP-like, as
 * GoEasy's are, so an application can switch on them; `content` explains the case in words.
 */
export const ERROR_CODE = {
  /** An id, option or argument is invalid (also: the server rejected the client or user id). */
  INVALID_ARGUMENT: 400,
  /** The server refused: bad credentials, a refused will, or a denied subscription. */
  NOT_AUTHORIZED: 401,
  /** The server did not answer in time. */
  TIMEOUT: 408,
  /** A query the server does not know (an unknown method). */
  NOT_FOUND: 404,
  /** The call needs a connection and there is none right now (reconnecting, or disconnected). */
  NOT_CONNECTED: 409,
  /** A query over one of the server's limits (ids per call, page size, request size). */
  TOO_LARGE: 413,
  /** Anything unexpected from the transport. */
  INTERNAL: 500,
  /** The server could not be reached, or said it is unavailable. */
  UNREACHABLE: 503,
} as const;

export type ErrorCode = (typeof ERROR_CODE)[keyof typeof ERROR_CODE];

export class PresenceClientError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly content: string,
  ) {
    super(content);
    this.name = 'PresenceClientError';
  }
}

export function failure(code: ErrorCode, content: string): PresenceClientError {
  return new PresenceClientError(code, content);
}

/** CONNACK return codes of MQTT 3.1.1 to ours. */
const CONNACK: Record<number, [ErrorCode, string]> = {
  1: [ERROR_CODE.UNREACHABLE, 'the server does not speak MQTT 3.1.1'],
  2: [ERROR_CODE.INVALID_ARGUMENT, 'the server rejected the client id or user id'],
  3: [ERROR_CODE.UNREACHABLE, 'the server is unavailable'],
  4: [ERROR_CODE.NOT_AUTHORIZED, 'bad user id or password'],
  5: [ERROR_CODE.NOT_AUTHORIZED, 'not authorized (was the user data refused, e.g. over the size limit?)'],
};

/** Turns whatever the transport threw into a coded error. */
export function fromTransportError(error: unknown): PresenceClientError {
  if (error instanceof PresenceClientError) return error;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' && message ? message : String(error);
  if (typeof code === 'number' && CONNACK[code]) {
    const [mapped, content] = CONNACK[code]!;
    return failure(mapped, `connection refused: ${content} (CONNACK ${code})`);
  }
  if (typeof code === 'string' && /^E[A-Z]+/.test(code)) return failure(ERROR_CODE.UNREACHABLE, `cannot reach the server: ${text}`);
  if (/connack timeout/i.test(text)) return failure(ERROR_CODE.TIMEOUT, 'the server did not answer CONNECT in time');
  if (/connection closed|disconnecting|client disconnected/i.test(text)) return failure(ERROR_CODE.NOT_CONNECTED, `the connection closed: ${text}`);
  return failure(ERROR_CODE.INTERNAL, text);
}

/**
 * A CONNACK refusal that trying again cannot fix: the id or the credentials (2, 4, 5). "Server
 * unavailable" and the like (1, 3) are worth retrying.
 */
export function isFinalRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 2 || code === 4 || code === 5;
}
