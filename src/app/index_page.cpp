#include "app/index_page.h"

namespace livehub {

const std::string& IndexPage() {
  static const std::string kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>livehub</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
.ok{color:#1a7f37}.warn{color:#b08800}.stale{color:#cf222e}.init{color:#888}
pre{background:#f6f8fa;padding:1em;max-height:20em;overflow:auto}
a{cursor:pointer;color:#0969da}
</style></head><body>
<h1>livehub</h1>
<p>Streams (refreshed every second). Click a stream to tail it over WebSocket.
API: <code>/v1/streams</code>, <code>/v1/ws</code>, <code>/v1/sse</code>, <code>/metrics</code>.</p>
<table><thead><tr><th></th><th>stream</th><th>latest seq</th><th>msg/s</th><th>age</th><th>subscribers</th></tr></thead>
<tbody id="rows"></tbody></table>
<h2 id="tail-title">tail</h2><pre id="tail">(click a stream)</pre>
<script>
const rows = document.getElementById('rows');
async function refresh() {
  try {
    const r = await fetch('/v1/streams'); const j = await r.json();
    rows.innerHTML = '';
    for (const s of j.streams) {
      const tr = document.createElement('tr');
      const age = s.latest_ts_ms ? ((j.server_time_ms - s.latest_ts_ms) / 1000).toFixed(1) + ' s' : '-';
      tr.innerHTML = `<td class="${s.freshness}">&#9679;</td><td><a></a></td><td>${s.latest_seq}</td>` +
        `<td>${s.rate_per_s.toFixed(1)}</td><td>${age}</td><td>${s.subscribers}</td>`;
      const a = tr.querySelector('a'); a.textContent = s.stream; a.onclick = () => tail(s.stream);
      rows.appendChild(tr);
    }
  } catch (e) { rows.innerHTML = '<tr><td colspan=6>hub unreachable</td></tr>'; }
}
let ws;
function tail(stream) {
  if (ws) ws.close();
  const out = document.getElementById('tail'); out.textContent = '';
  document.getElementById('tail-title').textContent = 'tail ' + stream;
  ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/ws');
  ws.onopen = () => ws.send(JSON.stringify({op: 'subscribe', id: 1, streams: [stream]}));
  const lines = [];
  ws.onmessage = (m) => { lines.push(m.data); if (lines.length > 50) lines.shift(); out.textContent = lines.join('\n'); };
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace livehub
