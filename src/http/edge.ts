import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody } from '../protocol/errors.js';

/**
 * What the HTTP edge accepts before any handler runs: MQTT-over-WebSocket subprotocols, and answers to
 * requests Node's parser refuses.
 */

/** The subprotocol names MQTT over WebSocket uses: `mqtt` (3.1.1, 5) and `mqttv3.1` (3.1). */
export const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

/**
 * The MQTT subprotocol to answer from those a client offers (in our order of preference, whatever
 * order they were offered in), or false when none is MQTT.
 */
export function pickMqttSubprotocol(offered: Set<string>): string | false {
  return MQTT_SUBPROTOCOLS.find((name) => offered.has(name)) ?? false;
}

/**
 * Why an upgrade to /mqtt is refused, or undefined to accept it. A client that offers subprotocols must
 * offer an MQTT one; one that offers none is accepted (some MQTT clients send no header).
 */
export function subprotocolRefusal(req: IncomingMessage): string | undefined {
  const header = req.headers['sec-websocket-protocol'];
  if (header === undefined) return undefined;
  const offered = new Set(header.split(',').map((name) => name.trim()).filter(Boolean));
  if (pickMqttSubprotocol(offered)) return undefined;
  return `no MQTT subprotocol offered (${[...offered].join(', ') || 'empty'}); use ${MQTT_SUBPROTOCOLS.join(' or ')}`;
}

/** Writes a complete JSON error answer on a raw socket and closes it (for refusals before a request exists). */
export function refuseRaw(socket: Duplex, status: number, reason: string, content: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify(errorBody(status, content));
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Node's `clientError`: a request its parser refused. An oversized header block (over `maxHeaderSize`,
 * 16 KiB by default) is 431, anything else unparsable 400, each answered rather than reset; a socket
 * that already failed is just closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    refuseRaw(socket, 431, 'Request Header Fields Too Large', 'request headers too large');
  } else if (error.code === 'HPE_HEADERS_TIMEOUT' || error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    refuseRaw(socket, 408, 'Request Timeout', 'request timed out');
  } else {
    refuseRaw(socket, 400, 'Bad Request', 'malformed HTTP request');
  }
}
