import type { Server } from 'node:net';

/**
 * Something outside the command line stopped the start: a port in use, an address not on this
 * machine. `message` names the problem and the fix (which flag); the CLI prints it as one line.
 */
export class StartupError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** A listener, for the messages of a failed listen: e.g. `{ name: 'HTTP', portFlag: '--http-port' }`. */
export interface Listener {
  name: string;
  portFlag: string;
}

/**
 * `server.listen(port, host)` as a promise. A failure that the user fixes with a flag (EADDRINUSE,
 * EACCES, an address not here) becomes a StartupError saying which; anything else is passed on.
 */
export function listen(server: Pick<Server, 'once' | 'off' | 'listen'>, port: number, host: string, listener: Listener): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => reject(listenError(error, host, port, listener));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

function listenError(error: Error, host: string, port: number, { name, portFlag }: Listener): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${name} on ${host}:${port}`;
  if (code === 'EADDRINUSE') {
    return new StartupError(`cannot listen for ${where}: the port is already in use (EADDRINUSE); stop what holds it or pick another port with ${portFlag} N (0 = any free port)`, error);
  }
  if (code === 'EACCES') {
    return new StartupError(`cannot listen for ${where}: permission denied (EACCES; ports below 1024 need privileges); pick another port with ${portFlag} N`, error);
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new StartupError(`cannot listen for ${where}: no such address on this machine (${code}); check --host`, error);
  }
  return error;
}
