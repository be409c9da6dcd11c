/**
 * The live console: one self-contained page (no build step), served at /console. The operator
 * signs in with an app token, picks the app the token opens and a chatroom from the app's list,
 * and watches its attributes (value, owner, autoDelete, revision, expiry) while the change events
 * scroll beside them; and sets, increments and deletes keys as the app. It uses only the public
 * API: GET /console/apps, GET .../chatrooms (Agora's list), GET .../chatrooms/{id}, a get with
 * "detail", the forced set and delete routes, and the SSE stream.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>roomkv console</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%230f1419'/%3E%3Cpath d='M4 4h3v8H4zM9 4h3v3H9zM9 9h3v3H9z' fill='%234fb3ff'/%3E%3C/svg%3E">
<style>
  :root { --bg:#0f1419; --panel:#171e26; --line:#263241; --text:#dbe4ee; --dim:#8193a6; --accent:#4fb3ff; --ok:#5ad17a; --warn:#ffb454; --bad:#ff6b6b; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:center; gap:16px; padding:12px 20px; border-bottom:1px solid var(--line); background:var(--panel); }
  header h1 { font-size:16px; margin:0; letter-spacing:.5px; }
  header h1 span { color:var(--accent); }
  #status { margin-left:auto; font-size:12px; color:var(--dim); }
  #status.live { color:var(--ok); } #status.error { color:var(--bad); }
  form { display:flex; flex-wrap:wrap; gap:8px; padding:14px 20px; border-bottom:1px solid var(--line); align-items:end; }
  label { display:flex; flex-direction:column; gap:4px; font-size:12px; color:var(--dim); }
  input, select, button { font:inherit; color:var(--text); background:#0b1015; border:1px solid var(--line); border-radius:6px; padding:7px 10px; }
  input#token { width:360px; max-width:100%; } input#room { width:170px; }
  input#w-key, input#w-as { width:150px; } input#w-value { width:220px; max-width:100%; } input#w-delta { width:80px; }
  button { background:var(--accent); color:#04121f; border:none; font-weight:600; cursor:pointer; }
  button.quiet { background:transparent; color:var(--accent); border:1px solid var(--line); font-weight:500; }
  button.del { background:transparent; color:var(--bad); border:1px solid var(--line); padding:0 7px; font-weight:500; }
  button:disabled { opacity:.5; cursor:default; }
  #w-result { font-size:12px; color:var(--dim); align-self:center; overflow-wrap:anywhere; }
  #w-result.ok { color:var(--ok); } #w-result.error { color:var(--bad); }
  main { display:grid; grid-template-columns: minmax(0,.8fr) minmax(0,1.75fr) minmax(0,1fr); gap:16px; padding:16px 20px; }
  /* A narrow window stacks the panels: side by side, a long value was squeezed to one character a line. */
  @media (max-width: 760px) { main { grid-template-columns: minmax(0,1fr); padding:12px; } form, header { padding-left:12px; padding-right:12px; } th, td { padding:6px 8px; } }
  /* Narrower still, each attribute is a card: its facts on one line, the value on the whole next one. */
  @media (max-width: 760px) {
    #attrs-head { display:none; }
    #attrs tr { display:flex; flex-wrap:wrap; align-items:center; gap:4px 10px; padding:6px 8px; border-bottom:1px solid var(--line); }
    #attrs td { border:none; padding:0; }
    #attrs td.value { order:1; flex-basis:100%; }
    #attrs td.rev::before { content:'rev '; } #attrs td.expires::before { content:'expires '; }
  }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px; min-height:300px; overflow:hidden; }
  section h2 { font-size:13px; margin:0; padding:10px 14px; border-bottom:1px solid var(--line); color:var(--dim); font-weight:600; text-transform:uppercase; letter-spacing:.6px; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:7px 14px; border-bottom:1px solid var(--line); vertical-align:top; }
  th { color:var(--dim); font-weight:500; font-size:12px; }
  td.key { font-family:ui-monospace, Menlo, monospace; color:var(--accent); cursor:pointer; }
  td.value { font-family:ui-monospace, Menlo, monospace; overflow-wrap:anywhere; min-width:12ch; width:100%; }
  td.rev, td.expires { font-family:ui-monospace, Menlo, monospace; color:var(--dim); white-space:nowrap; }
  #rooms tr { cursor:pointer; } #rooms tr.current td { background:#1d3b55; }
  #rooms td, #rooms-head th { padding:6px 8px; } #attrs td, #attrs-head th { padding:7px 10px; }
  #rooms td.rid { font-family:ui-monospace, Menlo, monospace; color:var(--accent); }
  #rooms td.n { color:var(--dim); text-align:right; }
  #rooms-more { margin:10px 14px; }
  .tag { font-size:11px; padding:1px 7px; border-radius:10px; border:1px solid var(--line); }
  .tag.DELETE { color:var(--warn); } .tag.NO_DELETE { color:var(--dim); }
  tr.flash td { animation: flash 1.2s ease-out; }
  @keyframes flash { from { background:#1d3b55; } to { background:transparent; } }
  #events { list-style:none; margin:0; padding:0; max-height:70vh; overflow:auto; font-family:ui-monospace, Menlo, monospace; font-size:12px; }
  #events li { padding:7px 14px; border-bottom:1px solid var(--line); }
  #events .seq, #events time { color:var(--dim); margin-right:6px; }
  #events .update { color:var(--ok); } #events .remove { color:var(--bad); } #events .snapshot { color:var(--accent); }
  .empty { color:var(--dim); padding:14px; }
</style>
</head>
<body>
<header><h1>room<span>kv</span> console</h1><div id="status">signed out</div></header>
<form id="signin">
  <label>App token<input id="token" type="password" placeholder="007… or YWMt…" autocomplete="off" required></label>
  <button id="apps-btn" type="submit">Sign in</button>
  <label>App<select id="app" disabled></select></label>
  <label>Chatroom<input id="room" placeholder="chatroom id" disabled></label>
  <button id="watch" type="button" disabled>Watch</button>
</form>
<form id="write">
  <label>Key<input id="w-key" placeholder="key" autocomplete="off" disabled></label>
  <label>Value<input id="w-value" placeholder="value" autocomplete="off" disabled></label>
  <label>autoDelete<select id="w-auto" disabled><option>DELETE</option><option>NO_DELETE</option></select></label>
  <label>As member<input id="w-as" placeholder="username" autocomplete="off" disabled></label>
  <button id="w-set" type="submit" disabled>Set (forced)</button>
  <label>Delta<input id="w-delta" type="number" step="1" value="1" disabled></label>
  <button id="w-incr" type="button" disabled>Increment</button>
  <button id="w-del" type="button" class="quiet" disabled>Delete (forced)</button>
  <span id="w-result"></span>
</form>
<main>
  <section><h2>Chatrooms <span id="room-count"></span></h2>
    <table><thead id="rooms-head"><tr><th>id</th><th>name</th><th>owner</th><th title="members">users</th></tr></thead><tbody id="rooms"></tbody></table>
    <div id="rooms-empty" class="empty">Sign in to list the app's chatrooms.</div>
    <button id="rooms-more" type="button" class="quiet" hidden>More</button>
  </section>
  <section><h2>Attributes <span id="count"></span></h2>
    <table><thead id="attrs-head"><tr><th>key</th><th>value</th><th>owner</th><th>autoDelete</th><th title="revision">rev</th><th>expires</th><th></th></tr></thead><tbody id="attrs"></tbody></table>
    <div id="attrs-empty" class="empty">Sign in, pick a chatroom and press Watch.</div>
  </section>
  <section><h2>Change events</h2><ul id="events"></ul></section>
</main>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  let token = '', apps = [], source = null, current = null, app = null, roomCursor = null, listing = 0;
  const status = (text, cls) => { $('status').textContent = text; $('status').className = cls || ''; };
  const REFUSED = 'token refused: not an app token of this server, or expired';
  const api = async (path, method, body) => {
    const init = { method: method || 'GET', headers: { Authorization: 'Bearer ' + token } };
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    const res = await fetch(path, init);
    const answer = await res.json().catch(() => ({}));
    if (res.status === 401) throw new Error(answer.error_description ? 'token refused: ' + answer.error_description : REFUSED);
    if (!res.ok) throw new Error(answer.error_description || res.statusText);
    return answer;
  };
  const base = (a) => '/' + a.org + '/' + a.app;
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&':'&amp;', '<':'&lt;', '>':'&gt;', '"':'&quot;', "'":'&#39;' })[c]);
  const pad = (n, w) => String(n).padStart(w || 2, '0');
  const clock = (t) => pad(t.getHours()) + ':' + pad(t.getMinutes()) + ':' + pad(t.getSeconds());

  // The app's chatrooms from GET .../chatrooms (Agora's list: limit and cursor), 100 a page.
  async function loadRooms(more) {
    const a = app, mine = ++listing;
    if (!more) { roomCursor = null; $('rooms').innerHTML = ''; }
    const page = await api(base(a) + '/chatrooms?limit=100' + (more && roomCursor ? '&cursor=' + encodeURIComponent(roomCursor) : ''));
    if (mine !== listing) return;
    roomCursor = page.cursor || null;
    $('rooms').insertAdjacentHTML('beforeend', page.data.map((r) => '<tr data-room="' + esc(r.id) + '" data-owner="' + esc(r.owner) + '"'
      + (current && current.room === r.id ? ' class="current"' : '') + '><td class="rid">' + esc(r.id) + '</td><td>' + esc(r.name)
      + '</td><td>' + esc(r.owner) + '</td><td class="n">' + r.affiliations_count + '</td></tr>').join(''));
    const n = $('rooms').children.length;
    $('rooms-more').hidden = !roomCursor;
    $('rooms-empty').style.display = n ? 'none' : 'block';
    $('rooms-empty').textContent = 'No chatrooms in this app.';
    $('room-count').textContent = '(' + n + (roomCursor ? '+' : '') + ')';
  }
  $('rooms-more').addEventListener('click', () => loadRooms(true).catch((err) => status(err.message, 'error')));
  $('rooms').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-room]');
    if (!tr) return;
    $('room').value = tr.getAttribute('data-room');
    $('watch').click();
  });
  $('app').addEventListener('change', () => {
    app = apps[Number($('app').value)];
    loadRooms(false).catch((err) => status(err.message, 'error'));
  });

  $('signin').addEventListener('submit', async (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    try {
      apps = (await api('/console/apps')).apps;
      // An app token opens its app; anything else (a bad, expired or user token) opens none.
      if (apps.length === 0) throw new Error(REFUSED);
      $('app').innerHTML = apps.map((a, i) => '<option value="' + i + '">' + esc(a.org + '#' + a.app) + '</option>').join('');
      $('app').disabled = $('room').disabled = $('watch').disabled = false;
      app = apps[0];
      status('signed in', '');
      $('room').focus();
      await loadRooms(false);
    } catch (err) { status(err.message, 'error'); }
  });

  function expiry(ms) {
    if (ms === null || ms === undefined) return '<td class="expires">—</td>';
    const t = new Date(ms);
    return '<td class="expires" data-expires="' + ms + '" title="' + esc(t.toString()) + '">' + clock(t) + ' (' + Math.max(0, Math.ceil((ms - Date.now()) / 1000)) + ' s)</td>';
  }
  // Every key with its owner, autoDelete, revision and expiry: a get with "detail" (spec section 10).
  async function refresh(changed) {
    const a = current;
    const data = (await api(base(a) + '/metadata/chatroom/' + encodeURIComponent(a.room), 'POST', { detail: true })).data;
    if (a !== current) return;
    const keys = Object.keys(data).sort();
    $('attrs').innerHTML = keys.map((k) => {
      const r = data[k];
      return '<tr data-key="' + esc(k) + '" data-revision="' + r.revision + '"' + (changed && changed.includes(k) ? ' class="flash"' : '') + '><td class="key">' + esc(k)
        + '</td><td class="value">' + esc(r.value) + '</td><td>' + esc(r.owner) + '</td><td><span class="tag ' + esc(r.autoDelete) + '">' + esc(r.autoDelete)
        + '</span></td><td class="rev">' + r.revision + '</td>' + expiry(r.expiresAt) + '<td><button type="button" class="del" title="delete as the app">✕</button></td></tr>';
    }).join('');
    $('attrs-empty').style.display = keys.length ? 'none' : 'block';
    $('attrs-empty').textContent = 'No attributes in this chatroom.';
    $('count').textContent = '(' + keys.length + ')';
  }
  function log(cls, seq, text, at) {
    const t = new Date(at);
    const li = document.createElement('li');
    li.className = cls;
    // The event's own time (a snapshot has none: the time it arrived), local, to the millisecond.
    li.innerHTML = '<time datetime="' + t.toISOString() + '" title="' + esc(t.toString()) + '">'
      + clock(t) + '.' + pad(t.getMilliseconds(), 3) + '</time>'
      + '<span class="seq">#' + seq + '</span>' + esc(text);
    $('events').prepend(li);
  }
  const writeControls = ['w-key', 'w-value', 'w-auto', 'w-as', 'w-set', 'w-delta', 'w-incr', 'w-del'];
  $('watch').addEventListener('click', async () => {
    const a = apps[Number($('app').value)];
    const room = $('room').value.trim();
    if (!room) return;
    if (source) source.close();
    current = { ...a, room };
    $('events').innerHTML = '';
    $('w-result').textContent = '';
    for (const tr of $('rooms').children) tr.classList.toggle('current', tr.getAttribute('data-room') === room);
    try {
      await refresh();
      // Forced sets act as a member: the room's owner unless the operator names another.
      $('w-as').value = (await api(base(a) + '/chatrooms/' + encodeURIComponent(room))).data[0].owner;
    } catch (err) { status(err.message, 'error'); return; }
    for (const id of writeControls) $(id).disabled = false;
    source = new EventSource(base(a) + '/metadata/chatroom/' + encodeURIComponent(room) + '/events?access_token=' + encodeURIComponent(token));
    source.onopen = () => status('live: ' + a.org + '#' + a.app + ' / ' + room, 'live');
    source.onerror = () => status('reconnecting…', 'error');
    source.addEventListener('snapshot', (e) => {
      const s = JSON.parse(e.data);
      log('snapshot', s.seq, 'snapshot: ' + Object.keys(s.attributes).length + ' attributes', Date.now());
    });
    source.onmessage = (e) => {
      const ev = JSON.parse(e.data);
      const keys = Array.isArray(ev.attributes) ? ev.attributes : Object.keys(ev.attributes);
      const text = ev.reason + ' by ' + ev.from + ': ' + (Array.isArray(ev.attributes) ? keys.join(', ') : keys.map((k) => k + '=' + ev.attributes[k]).join(', '));
      log(ev.operation === 'updateChatRoomAttributes' ? 'update' : 'remove', ev.seq, text, ev.timestamp);
      if (ev.reason === 'room_destroyed') {
        source.close();
        status('chatroom destroyed', 'error');
        for (const id of writeControls) $(id).disabled = true;
      }
      refresh(keys).catch((err) => status(err.message, 'error'));
    };
  });

  // Writes as the app: the forced routes with the app token. A set or increment acts as a member
  // (it becomes the key's owner); a delete as the pseudo-user admin, as the server SDK does.
  const said = (text, cls) => { $('w-result').textContent = text; $('w-result').className = cls; };
  async function write(method, user, body, what) {
    const a = current, key = $('w-key').value.trim();
    if (!a || !key) { said('name a key', 'error'); return; }
    // The last write's result goes while this one is in flight: what is shown is always this one's.
    said('', '');
    const path = base(a) + '/metadata/chatroom/' + encodeURIComponent(a.room) + '/user/' + encodeURIComponent(user) + '/forced';
    try {
      const data = (await api(path, method, body(key))).data;
      const reasons = Object.entries(data.errorKeys || {});
      if (reasons.length) said(reasons.map(([k, r]) => k + ': ' + r).join('; '), 'error');
      else said(what + ' ' + key + (data.values && key in data.values ? ' = ' + data.values[key] : ''), 'ok');
      await refresh([key]);
    } catch (err) { said(err.message, 'error'); }
  }
  const member = () => $('w-as').value.trim().toLowerCase();
  $('write').addEventListener('submit', (e) => {
    e.preventDefault();
    write('PUT', member(), (k) => ({ metaData: { [k]: $('w-value').value }, autoDelete: $('w-auto').value }), 'set');
  });
  $('w-incr').addEventListener('click', () => {
    const delta = Number($('w-delta').value);
    if (!Number.isSafeInteger(delta)) { said('the delta must be a whole number', 'error'); return; }
    write('PUT', member(), (k) => ({ increment: { [k]: delta } }), 'incremented');
  });
  $('w-del').addEventListener('click', () => write('DELETE', 'admin', (k) => ({ keys: [k] }), 'deleted'));
  $('attrs').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-key]');
    if (!tr || $('w-key').disabled) return;
    const cells = tr.querySelectorAll('td');
    $('w-key').value = tr.getAttribute('data-key');
    $('w-value').value = cells[1].textContent;
    // The key's owner and flag, so that a forced write keeps them unless changed here.
    $('w-as').value = cells[2].textContent;
    $('w-auto').value = cells[3].textContent;
    if (e.target.closest('button.del')) $('w-del').click();
  });
})();
</script>
</body>
</html>
`;
