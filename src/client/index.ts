// roomkv/client: live replicas of roomkv chatrooms over its WebSocket (spec section 9), for
// browsers, Node 20+ and mini-programs. No runtime dependencies; imports nothing outside this folder.
export { createClient, RoomkvClient, type ClientOptions, type ClientEvents } from './client.js';
export { Room, type RoomEvents } from './room.js';
export { RoomkvError } from './errors.js';
export {
  webSocketTransport,
  type Socket,
  type SocketEvents,
  type Transport,
  type WebSocketConstructor,
  type WebSocketLike,
} from './socket.js';
export { wxTransport, type WxLike, type WxSocketTask } from './wx.js';
export type {
  Attribute,
  ChangeEvent,
  ChatroomEvent,
  ConnectionStatus,
  EndReason,
  EventHandlers,
  EventOperation,
  EventReason,
  GetOptions,
  KeyOutcomes,
  PresenceChange,
  RoomStatus,
  SetOptions,
  SnapshotInfo,
  StatusChange,
  TokenResult,
  WriteOptions,
} from './types.js';
