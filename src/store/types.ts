import type { AutoDelete, KeyOutcomes } from '../domain/attributes.js';
import type { Limits } from '../domain/limits.js';

/**
 * The one narrow interface every store implements. A store applies the rules of `domain/`
 * atomically (one transaction or one script per call) and knows nothing of HTTP: it returns domain
 * results or throws the catalogue's ApiError.
 */
export interface UserRecord {
  uuid: string;
  username: string;
  created: number;
  modified: number;
}

export interface NewUser {
  username: string;
  passwordHash: string;
}

export interface RoomRecord {
  id: string;
  name: string;
  description: string;
  owner: string;
  maxusers: number;
  created: number;
  memberCount: number;
}

export interface NewRoom {
  name: string;
  description: string;
  owner: string;
  maxusers: number;
  members: string[];
}

export interface RemoveResult {
  user: string;
  result: boolean;
  reason?: string;
}

export interface AttrRecord {
  key: string;
  value: string;
  owner: string;
  autoDelete: AutoDelete;
}

export interface SetCall {
  appId: string;
  roomId: string;
  user: string;
  forced: boolean;
  autoDelete: AutoDelete;
  pairs: Array<[string, unknown]>;
  limits: Limits;
}

export interface DeleteCall {
  appId: string;
  roomId: string;
  /** The acting user; `admin` with an app token on the forced route. */
  user: string;
  forced: boolean;
  /** Forced delete by an app token skips the membership check. */
  checkMembership: boolean;
  keys: string[];
}

export interface Store {
  readonly kind: string;
  close(): Promise<void>;
  /** Answers when the store can serve calls (readiness). */
  ping(): Promise<void>;

  createUsers(appId: string, users: NewUser[]): Promise<UserRecord[]>;
  getUser(appId: string, username: string): Promise<UserRecord | null>;
  getUserByUuid(appId: string, uuid: string): Promise<UserRecord | null>;
  getPasswordHash(appId: string, username: string): Promise<string | null>;
  /** Removes the user and its memberships, applying autoDelete in every room it was in. */
  deleteUser(appId: string, username: string): Promise<UserRecord | null>;

  createRoom(appId: string, room: NewRoom): Promise<RoomRecord>;
  getRoom(appId: string, roomId: string): Promise<RoomRecord | null>;
  /** Removes the room, its members and every attribute. */
  destroyRoom(appId: string, roomId: string): Promise<boolean>;
  /** Adds existing users; returns the ones that were not members yet. */
  addMembers(appId: string, roomId: string, usernames: string[]): Promise<string[]>;
  /** Removes members, applying autoDelete for each, all in one transaction. */
  removeMembers(appId: string, roomId: string, usernames: string[]): Promise<RemoveResult[]>;
  listMembers(appId: string, roomId: string, offset: number, limit: number): Promise<string[]>;
  isMember(appId: string, roomId: string, username: string): Promise<boolean>;

  setAttributes(call: SetCall): Promise<KeyOutcomes>;
  deleteAttributes(call: DeleteCall): Promise<KeyOutcomes>;
  /** Checks the room exists and, when `member` is given, that it is a member; keys undefined = all. */
  getAttributes(appId: string, roomId: string, keys: string[] | undefined, member?: string): Promise<Record<string, string>>;
  /** Full records, for operators and tests. */
  listAttributes(appId: string, roomId: string): Promise<AttrRecord[]>;
}
