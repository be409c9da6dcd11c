import { Errors } from '../domain/errors.js';
import { isRoomId } from '../domain/ids.js';

/**
 * A chatroom id a caller names, as it is handed to the store. Stores take ids as valid
 * (store/types.ts), so this is where a malformed one stops: it names no room, and is answered as
 * a room that does not exist (404 resource_not_found, "grpID {id} does not exist!").
 *
 * Called at the store call, not first: a call's own checks (its body, a username, a resume point)
 * come first, as they did when the store made this check, so a request with a malformed id and
 * another fault answers as it always has, and as one with an unknown id does.
 */
export function checkRoomId(id: string): string {
  if (!isRoomId(id)) throw Errors.roomNotFound(id);
  return id;
}
