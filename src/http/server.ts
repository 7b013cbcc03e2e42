import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../log/logger.js';
import { answerClientError, pickMqttSubprotocol, refuseRaw, subprotocolRefusal } from './edge.js';
import { Router, sendError } from './router.js';

export const MQTT_WS_PATH = '/mqtt';

/**
 * One HTTP server for the API, the demo page and MQTT over WebSocket at /mqtt. We use `ws` 8 with
 * `createWebSocketStream` (as aedes' own docs do): websocket-stream is abandoned and pins ws 3.3.3,
 * which has known DoS advisories.
 */
export function createHttpServer(
  router: Router,
  handleMqtt: (stream: Duplex, req: IncomingMessage) => void,
  log: Logger,
): Server {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, handleProtocols: (offered) => pickMqttSubprotocol(offered) });
  const server = createServer((req, res) => {
    router.handle(req, res).then(
      (handled) => {
        if (!handled) sendError(res, 404, 'no such endpoint');
      },
      (error: unknown) => {
        log.error('http handler failed', { url: req.url, error });
        if (!res.headersSent) sendError(res, 500, 'internal error');
        else res.destroy();
      },
    );
  });
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== MQTT_WS_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const refusal = subprotocolRefusal(req);
    if (refusal) {
      log.debug('websocket upgrade refused', { reason: refusal });
      refuseRaw(socket, 400, 'Bad Request', refusal);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      // aedes listens for errors on the stream it owns; this covers the gap until it does.
      stream.on('error', () => {});
      handleMqtt(stream, req);
    });
  });
  server.on('clientError', answerClientError);
  server.on('close', () => wss.close());
  return server;
}
