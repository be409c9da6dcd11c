import { Errors } from '../domain/errors.js';

/**
 * The list routes' `cursor`: where the previous page ended (a room id, a username), written as
 * base64url so that clients treat it as opaque, as Agora's cursors are.
 */
export function cursorOf(last: string): string {
  return Buffer.from(last, 'utf8').toString('base64url');
}

/** The position a cursor names; one this server cannot have given is a 400. */
export function afterCursor(cursor: string | undefined, valid: (position: string) => boolean): string {
  if (cursor === undefined || cursor === '') return '';
  const position = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!valid(position) || cursorOf(position) !== cursor) throw Errors.illegalArgument('cursor is not one this server gave out');
  return position;
}
