// Agora Chat's post-delivery callbacks ("发送后回调") for chatroom custom attributes, rendered from
// roomkv's change events, so an app server written for Agora's callbacks gets the bodies it expects.
//
// Sources (Agora Chat is Easemob's service; its documents say the same in both places):
// - https://docs.agora.io/en/agora-chat/reference/callbacks-events: "Chat group and chat room
//   events" (the common fields, `security`), "Set or update custom attributes of a chat room"
//   (`set_metadata`), "Delete custom attributes of a chat room" (`delete_metadata`), "Destroy a chat
//   group or chat room" (`destroy`). Its text: github.com/AgoraIO/Docs-Source,
//   shared/chat-sdk/reference/_chat_receive_webhook.mdx.
// - https://docs.agora.io/en/agora-chat/develop/setup-webhooks: post-delivery callbacks, `security`
//   is the MD5 of `{callId}{secret}{timestamp}`.
// - https://doc.easemob.com/document/server-side/callback_group_room_old.html (`muc:set_metadata`,
//   `muc:delete_metadata`) and https://docs-im.easemob.com/ccim/rest/callbackconfig
//   (`security` = MD5(callId+secret+timestamp), hex as Apache commons' `DigestUtils#md5Hex`).
//
// Where the documents are silent or ambiguous, and what is chosen here:
// - `event_info.ext` is documented only by one example, the same for set and delete (its
//   `"operator "` key has a stray space, taken as `operator`). Set: `properties` is the map written.
//   Delete: the example's map of key to value is kept; a value is the removed one when the event
//   carries `previous` (spec section 10), else "".
// - `result.errorKeys` is `{}`: an event records only the keys written (upstream sends the callback
//   only when one succeeded). `identify` is "" and `muc_name` is "" (the event does not carry the
//   room's name), `need_notify` is true (members are told, over the streams).
// - `msg_id` is a message id upstream; here a decimal number drawn from the event's identity, the
//   same on every attempt, so `callId` (`{appkey}_{msg_id}`) and `security` are too. `timestamp`
//   is the event's (ms). `host` is the host name of the roomkv instance that sends.
// - `from` is the chat room id and `to` the member (the event's `from`), as documented for the
//   attribute callbacks. `muc_id` is `{appkey}_{room}@conference.easemob.com` as documented.
// - A destroyed room (reason `room_destroyed`): upstream sends `destroy` for a chat room, not the
//   removal of its keys; so does this (payload `{muc_id, reason, is_chatroom, operation, status}`).
import { createHash } from 'node:crypto';

/** The fields of a roomkv event (spec section 7) that a callback is made of. */
interface EventBody {
  seq: number;
  chatroomId: string;
  app: string;
  timestamp: number;
  operation: string;
  from: string;
  reason: string;
  attributes: Record<string, string> | string[];
  previous?: Record<string, { value: string } | null>;
}

export interface AgoraCallbackOptions {
  /** The key of `security`. */
  secret: string;
  /** `host`: the name of the sending server. */
  host: string;
}

/** Agora's `security`: hex MD5 of callId, secret and timestamp (ms) written one after the other. */
export function agoraSecurity(callId: string, secret: string, timestamp: number): string {
  return createHash('md5').update(`${callId}${secret}${timestamp}`).digest('hex');
}

/** A positive 63-bit decimal, fixed by the event (an epoch's reset of seqs gives new timestamps). */
function messageId(e: EventBody): string {
  const digest = createHash('sha256').update(`${e.app}\n${e.chatroomId}\n${e.seq}\n${e.timestamp}`).digest();
  return (digest.readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn).toString();
}

const OK = { description: '', error_code: 'ok' };

function metadataPayload(e: EventBody, mucId: string): Record<string, unknown> {
  const set = e.operation === 'updateChatRoomAttributes';
  const keys = Array.isArray(e.attributes) ? e.attributes : Object.keys(e.attributes);
  const properties = Array.isArray(e.attributes)
    ? Object.fromEntries(e.attributes.map((k) => [k, e.previous?.[k]?.value ?? '']))
    : e.attributes;
  const ext = {
    result: { successKeys: keys, errorKeys: {} },
    identify: '',
    is_forced: e.reason === 'forced_set' || e.reason === 'forced_delete',
    muc_name: '',
    need_notify: true,
    properties,
    operator: e.from,
  };
  return {
    muc_id: mucId,
    is_chatroom: true,
    event_info: { ext: JSON.stringify(ext), type: 'event_none' },
    operation: set ? 'set_metadata' : 'delete_metadata',
    status: OK,
  };
}

/**
 * The body Agora would POST for the event in `body` (roomkv's JSON, as the outbox keeps it):
 * `set_metadata` for updates (set, forced_set, increment), `delete_metadata` for removals (delete,
 * forced_delete, member_left, user_deleted, member_offline, expired), `destroy` for room_destroyed.
 */
export function renderAgoraCallback(body: string, options: AgoraCallbackOptions): string {
  const e = JSON.parse(body) as EventBody;
  const msgId = messageId(e);
  const callId = `${e.app}_${msgId}`;
  const mucId = `${e.app}_${e.chatroomId}@conference.easemob.com`;
  const payload =
    e.reason === 'room_destroyed'
      ? { muc_id: mucId, reason: '', is_chatroom: true, operation: 'destroy', status: OK }
      : metadataPayload(e, mucId);
  return JSON.stringify({
    chat_type: 'muc',
    callId,
    security: agoraSecurity(callId, options.secret, e.timestamp),
    payload,
    group_id: e.chatroomId,
    host: options.host,
    appkey: e.app,
    from: e.chatroomId,
    to: e.from,
    eventType: 'chat',
    msg_id: msgId,
    timestamp: e.timestamp,
    securityVersion: '1.0.0',
  });
}
