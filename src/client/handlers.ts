import type { ClientEvents } from './channel.js';

export type Handler<K extends keyof ClientEvents> = (payload: ClientEvents[K]) => void;

/** The application's handlers, by event name (`PresenceClient.on` / `off`). */
export class Handlers {
  private readonly byEvent = new Map<keyof ClientEvents, Set<(payload: never) => void>>();

  add<K extends keyof ClientEvents>(event: K, handler: Handler<K>): void {
    if (!this.byEvent.has(event)) this.byEvent.set(event, new Set());
    this.byEvent.get(event)!.add(handler as (payload: never) => void);
  }

  remove<K extends keyof ClientEvents>(event: K, handler: Handler<K>): void {
    this.byEvent.get(event)?.delete(handler as (payload: never) => void);
  }

  /** A throwing handler neither stops the others nor the client; its error is rethrown on its own. */
  emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
    for (const handler of this.byEvent.get(event) ?? []) {
      try {
        (handler as Handler<K>)(payload);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}
