import { randomBytes, randomUUID } from 'node:crypto';

/** The app's uuid in envelopes: its 32-hex App ID written as a UUID (spec section 3). */
export function appUuid(appId: string): string {
  const h = appId.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function newUserUuid(): string {
  return randomUUID();
}

/** A random log epoch (48 bits, so two histories never share one); stores write it base 36. */
export function newEpochValue(): number {
  return randomBytes(6).readUIntBE(0, 6);
}

/** Chatroom ids are numeric strings, as upstream's are; stores draw `seq` from a durable counter. */
export function roomIdFromSeq(seq: number): string {
  return String(200_000_000_000 + seq);
}

/** The counter value that issued `id` (0 for an id below roomkv's range): an import moves the counter past it. */
export function roomSeqOf(id: string): number {
  return Math.max(0, Number(id) - 200_000_000_000);
}

const ROOM_ID = /^[0-9]{1,20}$/;

/** Ids roomkv can have issued. Anything else names no room, and never reaches a store key. */
export function isRoomId(id: string): boolean {
  return ROOM_ID.test(id);
}
