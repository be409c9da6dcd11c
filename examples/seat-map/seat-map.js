// The seat map: each seat is a chatroom attribute `seat{n}` whose value is who sits there. A seat
// belongs to whoever took it (roomkv refuses it to the others: "is not part of you") and is freed
// when that member leaves the room (autoDelete). Every page in the room sees every change live.
/* global document, location, window */
import { createClient } from 'roomkv/client';

const SEATS = 8;
const params = new URLSearchParams(location.search);
const user = params.get('user');
const $ = (id) => document.getElementById(id);

if (!user) {
  $('message').textContent = 'Open this page as ?user=<name>.';
  throw new Error('no user');
}

// This page's server says which roomkv, app and room to use, and hands out tokens.
const config = await (await fetch('./config')).json();
const client = createClient({
  // `?roomkv=` points the page at another address of the same roomkv (a proxy, another instance).
  baseUrl: params.get('roomkv') ?? config.baseUrl,
  org: config.org,
  app: config.app,
  user,
  // {token, expiresAt}: the client asks again before the token expires.
  getToken: async () => {
    const res = await fetch(`./token?user=${encodeURIComponent(user)}`);
    if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
    return res.json();
  },
});
const room = client.room(config.room);
/** Every event seq this page applied, in order: the test checks that none is missing or doubled. */
const seqs = [];
window.seatMap = { client, room, seqs };

$('me').textContent = user;
$('room').textContent = config.room;

const seatKey = (n) => `seat${n}`;
const mySeat = () => [...room.attributes].find(([, a]) => a.value === user)?.[0];

function render() {
  const seats = $('seats');
  if (seats.children.length === 0) {
    for (let n = 1; n <= SEATS; n++) {
      const b = document.createElement('button');
      b.dataset.seat = String(n);
      b.addEventListener('click', () => void choose(n));
      seats.append(b);
    }
  }
  for (const b of seats.children) {
    const occupant = room.value(seatKey(b.dataset.seat));
    if (occupant === undefined) delete b.dataset.occupant;
    else b.dataset.occupant = occupant;
    b.classList.toggle('mine', occupant === user);
    b.textContent = `Seat ${b.dataset.seat}: ${occupant ?? 'free'}`;
  }
}

async function choose(n) {
  const key = seatKey(n);
  const current = mySeat();
  $('message').textContent = '';
  try {
    if (current === key) {
      await room.delete([key]);
      return;
    }
    // Take the new seat first: when it is someone else's, the old one is kept.
    const taken = await room.set({ [key]: user }, { autoDelete: 'DELETE' });
    if (taken.errorKeys[key] !== undefined) {
      $('message').textContent = `Seat ${n} is taken (${taken.errorKeys[key]}).`;
      return;
    }
    if (current !== undefined) await room.delete([current]);
  } catch (err) {
    $('message').textContent = `Not done: ${err.message}`;
  }
}

function describe(e) {
  const keys = Array.isArray(e.attributes) ? e.attributes : Object.keys(e.attributes);
  const seatsOf = keys.filter((k) => k.startsWith('seat')).map((k) => k.slice(4));
  const verb = Array.isArray(e.attributes) ? 'left' : 'took';
  return `${e.from} ${verb} seat ${seatsOf.join(', ')}${e.reason === 'set' || e.reason === 'delete' ? '' : ` (${e.reason})`}`;
}

room.on('update', render);
room.on('change', (e) => {
  seqs.push(e.seq);
  const li = document.createElement('li');
  li.textContent = describe(e);
  $('log').prepend(li);
});
room.on('end', (reason) => {
  $('message').textContent = `This room is no longer followed: ${reason}.`;
});
client.on('status', ({ status }) => {
  $('status').textContent = status;
  $('status').dataset.status = status;
});
client.on('error', (err) => console.warn('roomkv client:', err));
render();
