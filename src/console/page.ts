/**
 * The live console: one self-contained page (no build step), served at /console. The operator
 * signs in with an app token, picks the app the token opens and a chatroom, and watches its
 * attributes (owner, autoDelete, value) while the change events scroll beside them. It uses only
 * the public API: GET /console/apps, GET .../chatrooms/{id}/attributes and the SSE stream.
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
  button { background:var(--accent); color:#04121f; border:none; font-weight:600; cursor:pointer; }
  button:disabled { opacity:.5; cursor:default; }
  main { display:grid; grid-template-columns: minmax(0,1.3fr) minmax(0,1fr); gap:16px; padding:16px 20px; }
  /* A narrow window stacks the panels: side by side, a long value was squeezed to one character a line. */
  @media (max-width: 760px) { main { grid-template-columns: minmax(0,1fr); padding:12px; } form, header { padding-left:12px; padding-right:12px; } th, td { padding:6px 8px; } }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px; min-height:300px; overflow:hidden; }
  section h2 { font-size:13px; margin:0; padding:10px 14px; border-bottom:1px solid var(--line); color:var(--dim); font-weight:600; text-transform:uppercase; letter-spacing:.6px; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:7px 14px; border-bottom:1px solid var(--line); vertical-align:top; }
  th { color:var(--dim); font-weight:500; font-size:12px; }
  td.key { font-family:ui-monospace, Menlo, monospace; color:var(--accent); }
  td.value { font-family:ui-monospace, Menlo, monospace; overflow-wrap:anywhere; min-width:12ch; width:100%; }
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
<main>
  <section><h2>Attributes <span id="count"></span></h2>
    <table><thead><tr><th>key</th><th>value</th><th>owner</th><th>autoDelete</th></tr></thead><tbody id="attrs"></tbody></table>
    <div id="attrs-empty" class="empty">Sign in, pick a chatroom and press Watch.</div>
  </section>
  <section><h2>Change events</h2><ul id="events"></ul></section>
</main>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  let token = '', apps = [], source = null, current = null;
  const status = (text, cls) => { $('status').textContent = text; $('status').className = cls || ''; };
  const REFUSED = 'token refused: not an app token of this server, or expired';
  const api = async (path) => {
    const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token } });
    const body = await res.json().catch(() => ({}));
    if (res.status === 401) throw new Error(body.error_description ? 'token refused: ' + body.error_description : REFUSED);
    if (!res.ok) throw new Error(body.error_description || res.statusText);
    return body;
  };
  $('signin').addEventListener('submit', async (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    try {
      apps = (await api('/console/apps')).apps;
      // An app token opens its app; anything else (a bad, expired or user token) opens none.
      if (apps.length === 0) throw new Error(REFUSED);
      $('app').innerHTML = apps.map((a, i) => '<option value="' + i + '">' + a.org + '#' + a.app + '</option>').join('');
      $('app').disabled = $('room').disabled = $('watch').disabled = false;
      status('signed in', '');
      $('room').focus();
    } catch (err) { status(err.message, 'error'); }
  });
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&':'&amp;', '<':'&lt;', '>':'&gt;', '"':'&quot;', "'":'&#39;' })[c]);
  async function refresh(changed) {
    const a = current;
    const rows = (await api('/' + a.org + '/' + a.app + '/chatrooms/' + encodeURIComponent(a.room) + '/attributes')).data;
    $('attrs').innerHTML = rows.map((r) => '<tr data-key="' + esc(r.key) + '"' + (changed && changed.includes(r.key) ? ' class="flash"' : '') + '><td class="key">' + esc(r.key) + '</td><td class="value">' + esc(r.value)
      + '</td><td>' + esc(r.owner) + '</td><td><span class="tag ' + r.autoDelete + '">' + r.autoDelete + '</span></td></tr>').join('');
    $('attrs-empty').style.display = rows.length ? 'none' : 'block';
    $('attrs-empty').textContent = 'No attributes in this chatroom.';
    $('count').textContent = '(' + rows.length + ')';
  }
  const pad = (n, w) => String(n).padStart(w || 2, '0');
  function log(cls, seq, text, at) {
    const t = new Date(at);
    const li = document.createElement('li');
    li.className = cls;
    // The event's own time (a snapshot has none: the time it arrived), local, to the millisecond.
    li.innerHTML = '<time datetime="' + t.toISOString() + '" title="' + esc(t.toString()) + '">'
      + pad(t.getHours()) + ':' + pad(t.getMinutes()) + ':' + pad(t.getSeconds()) + '.' + pad(t.getMilliseconds(), 3) + '</time>'
      + '<span class="seq">#' + seq + '</span>' + esc(text);
    $('events').prepend(li);
  }
  $('watch').addEventListener('click', async () => {
    const app = apps[Number($('app').value)];
    const room = $('room').value.trim();
    if (!room) return;
    if (source) source.close();
    current = { ...app, room };
    $('events').innerHTML = '';
    try { await refresh(); } catch (err) { status(err.message, 'error'); return; }
    source = new EventSource('/' + app.org + '/' + app.app + '/metadata/chatroom/' + encodeURIComponent(room) + '/events?access_token=' + encodeURIComponent(token));
    source.onopen = () => status('live: ' + app.org + '#' + app.app + ' / ' + room, 'live');
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
      if (ev.reason === 'room_destroyed') { source.close(); status('chatroom destroyed', 'error'); }
      refresh(keys).catch((err) => status(err.message, 'error'));
    };
  });
})();
</script>
</body>
</html>
`;
