/** presence-bridge/client: the thin, GoEasy-shaped presence client for Node and browsers. */
export {
  connect,
  PresenceClient,
  type ConnectOptions,
  type GroupHereNowCall,
  type GroupIdsCall,
  type GroupOnlineCountCall,
  type HereNowCall,
  type UserIdsCall,
  type WhereNowCall,
} from './client.js';
export type { ClientEvents } from './channel.js';
export type { UpdatePresenceCall } from './data-update.js';
export { ERROR_CODE, PresenceClientError, type ErrorCode } from './errors.js';
export type { Transport, TransportFactory, TransportListener, TransportOptions, Will } from './transport.js';
export {
  CLIENT_EVENT,
  IM_EVENT,
  type Callbacks,
  type ConnectionStatus,
  type GroupHereNowResult,
  type GroupMember,
  type GroupOnlineCountResult,
  type GroupPresenceEvent,
  type GroupRoster,
  type HereNowResult,
  type WhereNowResult,
  type UserData,
  type UserPresenceEvent,
} from './types.js';
