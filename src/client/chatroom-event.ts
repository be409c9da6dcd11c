// The official Agora Chat web SDK tells of attribute changes through its onChatroomEvent handler:
// `{operation: 'updateChatRoomAttributes', id, from, attributes: {k: v}}` and
// `{operation: 'removeChatRoomAttributes', id, from, attributes: [k]}`, only when a key changed,
// and `{operation: 'destroy', id, from}` when the room is destroyed (agora-chat 1.4.0). roomkv's
// events carry the same fields, so code written for that handler runs on them unchanged.
import type { Attribute, ChangeEvent, ChatroomEvent } from './types.js';

/** The SDK events an applied event stands for. */
export function toChatroomEvents(e: ChangeEvent): ChatroomEvent[] {
  // The SDK reports a destroyed room as `destroy`, not as the removal of its keys.
  if (e.reason === 'room_destroyed') return [{ operation: 'destroy', id: e.chatroomId, from: e.from }];
  const count = Array.isArray(e.attributes) ? e.attributes.length : Object.keys(e.attributes).length;
  if (count === 0) return [];
  return [{ operation: e.operation, id: e.chatroomId, from: e.from, attributes: e.attributes }];
}

/**
 * What changed between two replicas, as SDK events: a snapshot that replaces the replica (its
 * log could not resume it) still tells handler code of every change. Who made the changes is not
 * in a snapshot: `from` is the key's owner when the snapshot names it, else ''.
 */
export function snapshotDiff(id: string, before: ReadonlyMap<string, Attribute>, after: ReadonlyMap<string, Attribute>): ChatroomEvent[] {
  const updated = new Map<string, Record<string, string>>();
  for (const [k, a] of after) {
    if (before.get(k)?.value === a.value) continue;
    const from = a.owner ?? '';
    let group = updated.get(from);
    if (group === undefined) updated.set(from, (group = {}));
    group[k] = a.value;
  }
  const removed = [...before.keys()].filter((k) => !after.has(k));
  const out: ChatroomEvent[] = [];
  if (removed.length > 0) out.push({ operation: 'removeChatRoomAttributes', id, from: '', attributes: removed });
  for (const [from, attributes] of updated) out.push({ operation: 'updateChatRoomAttributes', id, from, attributes });
  return out;
}
