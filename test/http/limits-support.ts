// What the limits-under-attack tests (limits-*.test.ts) share: a room with two users to attack.
import assert from 'node:assert/strict';
import type { Client } from '../support/client.js';

const PASSWORD = 'pw-123456';

export async function setupRoom(c: Client): Promise<string> {
  const users = await c.call('POST', '/users', {
    body: [
      { username: 'ann', password: PASSWORD },
      { username: 'ben', password: PASSWORD },
    ],
  });
  assert.equal(users.status, 200, users.text);
  const room = await c.call('POST', '/chatrooms', { body: { name: 'r', description: 'd', owner: 'ann', members: ['ben'] } });
  assert.equal(room.status, 200, room.text);
  return room.body.data.id;
}
