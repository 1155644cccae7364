// The dashboard page: one self-contained HTML document — inline CSS and script, charts drawn
// as inline SVG by hand, no build step and no external URL (the route's Content-Security-
// Policy forbids any). The script fetches /dashboard.json once a second (snapshot.ts is
// its shape) and redraws. When a fetch fails or the registry is stale it keeps the last
// picture on screen under a banner that says how old it is.
//
// The script avoids template literals so that it can live inside this one.

const STYLE = `
:root { --bg: #f6f7f9; --card: #fff; --ink: #1d2430; --dim: #667085; --line: #d8dde6; --accent: #2563eb;
  --good: #15803d; --warn: #b45309; --bad: #b91c1c; --lag: #9333ea; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; background: #111827; color: #f9fafb; }
header h1 { margin: 0; font-size: 18px; letter-spacing: .5px; }
header #updated { color: #cbd5e1; font-size: 13px; }
.banner { display: none; padding: 10px 20px; font-weight: 600; border-bottom: 1px solid var(--line); }
.banner.on { display: block; }
#stale-banner { background: #fef3c7; color: #78350f; }
#fetch-banner { background: #fee2e2; color: #7f1d1d; }
main { padding: 16px 20px; display: grid; gap: 16px; }
section > h2 { font-size: 15px; margin: 0 0 8px; color: var(--dim); text-transform: uppercase; letter-spacing: .6px; }
.shards { display: grid; grid-template-columns: repeat(auto-fill, minmax(580px, 1fr)); gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px; overflow-x: auto; }
.card h3 { margin: 0 0 6px; font-size: 16px; display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; }
.card h3 .meta { font-size: 13px; font-weight: normal; color: var(--dim); }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 6px 3px 0; border-bottom: 1px solid #eef0f4; white-space: nowrap; }
th { font-size: 12px; color: var(--dim); font-weight: 600; }
td.num, th.num { text-align: right; }
.role { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; font-weight: 600; }
.role-active { background: #dcfce7; color: var(--good); }
.role-standby { background: #dbeafe; color: var(--accent); }
.role-candidate { background: #fef3c7; color: var(--warn); }
.role-gone { background: #f3f4f6; color: var(--dim); }
.charts { display: flex; gap: 12px; margin-top: 8px; flex-wrap: wrap; }
.chart-box { font-size: 12px; color: var(--dim); }
svg.chart { background: #fbfcfe; border: 1px solid #eef0f4; border-radius: 4px; display: block; }
.error { color: var(--bad); font-size: 12px; }
.bar { display: inline-block; width: 80px; height: 8px; background: #e5e7eb; border-radius: 4px; vertical-align: middle; overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--accent); }
.dead { color: var(--bad); font-weight: 600; }
.live { color: var(--good); font-weight: 600; }
#failover-list { margin: 8px 0 0; padding-left: 18px; font-variant-numeric: tabular-nums; }
.muted { color: var(--dim); }
`;

const SCRIPT = `
'use strict';
var POLL_MS = 1000, FETCH_TIMEOUT_MS = 2500;
var last = null, lastOkAt = null;
var SHARD_COLORS = ['#2563eb', '#0d9488', '#c026d3', '#ea580c', '#4f46e5', '#65a30d'];

function esc(v) {
  return String(v == null ? '' : v).replace(/[&<>"']/g, function (c) {
    return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
  });
}
function num(v) { return v == null ? '–' : Number(v).toLocaleString('en-US'); }
function bytes(v) {
  if (v == null) return '–';
  var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], i = 0, x = v;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return (i === 0 ? x : x.toFixed(1)) + ' ' + units[i];
}
function age(ms) {
  if (ms == null) return '–';
  if (ms < 1000) return ms + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  if (ms < 3600000) return Math.floor(ms / 60000) + ' min ' + Math.floor((ms % 60000) / 1000) + ' s';
  return (ms / 3600000).toFixed(1) + ' h';
}
function clock(ms) { return new Date(ms).toLocaleTimeString('en-GB', { hour12: false }); }
function shardColor(name, shards) {
  var i = shards.indexOf(name);
  return SHARD_COLORS[(i < 0 ? 0 : i) % SHARD_COLORS.length];
}

// A small line chart over the snapshot's time window: x is time, y from 0 to the largest
// value; the top TOP pixels are left to the scale's label.
function chart(kind, points, nowMs, windowMs, color, unit) {
  var W = 210, H = 60, PAD = 3, TOP = 14;
  var max = 0;
  points.forEach(function (p) { if (p[1] > max) max = p[1]; });
  var top = max > 0 ? max : 1;
  var from = nowMs - windowMs;
  var coords = points.filter(function (p) { return p[0] >= from; }).map(function (p) {
    var x = PAD + ((p[0] - from) / windowMs) * (W - 2 * PAD);
    var y = H - PAD - (p[1] / top) * (H - PAD - TOP);
    return x.toFixed(1) + ',' + y.toFixed(1);
  });
  var latest = points.length ? points[points.length - 1][1] : null;
  var svg = '<svg class="chart chart-' + kind + '" data-points="' + coords.length + '" width="' + W + '" height="' + H +
    '" viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="' + esc(kind) + '">' +
    '<line x1="0" y1="' + (H - PAD) + '" x2="' + W + '" y2="' + (H - PAD) + '" stroke="#e5e7eb"/>' +
    (coords.length > 1 ? '<polyline fill="none" stroke="' + color + '" stroke-width="1.6" points="' + coords.join(' ') + '"/>' : '') +
    (coords.length ? '<circle r="2.2" fill="' + color + '" cx="' + coords[coords.length - 1].split(',')[0] + '" cy="' + coords[coords.length - 1].split(',')[1] + '"/>' : '') +
    '<text x="' + (W - 4) + '" y="10" text-anchor="end" font-size="9" fill="#667085">max ' + esc(num(Math.round(max * 100) / 100)) + '</text>' +
    '</svg>';
  return '<div class="chart-box"><div>' + esc(kind === 'throughput' ? 'throughput' : 'standby lag') + ': <b>' +
    esc(latest == null ? '–' : num(latest)) + '</b> ' + unit + '</div>' + svg + '</div>';
}

function shardCard(s, snap) {
  var shards = snap.shards.map(function (x) { return x.shard; });
  var rows = s.members.map(function (m) {
    return '<tr data-member="' + esc(m.member) + '">' +
      '<td>' + esc(m.member) + (m.firstStandby ? ' <span class="muted">(first standby)</span>' : '') + '</td>' +
      '<td><span class="role role-' + esc(m.role) + '">' + esc(m.role) + '</span></td>' +
      '<td>' + (m.inIsr ? '✓' : '') + '</td>' +
      '<td class="num">' + num(m.txid) + '</td>' +
      '<td class="num">' + num(m.lagTxids) + '</td>' +
      '<td class="num">' + (m.lagMsP50 == null ? '–' : esc(m.lagMsP50) + ' ms') + '</td>' +
      '<td>' + (m.streaming == null ? '' : m.streaming ? 'streaming' : '<span class="dead">not streaming</span>') + '</td>' +
      '<td class="muted">' + esc(m.rpc || '') + '</td></tr>';
  }).join('');
  var status = s.status
    ? 'committed txid <b class="committed">' + num(s.status.committedTxid) + '</b>, ' + (s.txidsPerSec == null ? '–' : esc(s.txidsPerSec)) + ' txid/s' +
      (s.status.ageMs > 2500 ? ' <span class="muted">(' + age(s.status.ageMs) + ' old)</span>' : '')
    : '<span class="muted">no status yet</span>';
  var color = shardColor(s.shard, shards);
  return '<div class="card shard" data-shard="' + esc(s.shard) + '">' +
    '<h3><span style="color:' + color + '">' + esc(s.shard) + '</span>' +
    '<span class="meta">epoch <b class="epoch">' + esc(s.epoch == null ? '–' : s.epoch) + '</b></span>' +
    '<span class="meta">active <b class="active-member">' + esc(s.active || 'none') + '</b></span>' +
    '<span class="meta">ISR <span class="isr">' + esc(s.isr.join(', ') || '–') + '</span></span></h3>' +
    '<div class="meta">' + status + (s.status && s.status.error ? ' <span class="error">' + esc(s.status.error) + '</span>' : '') + '</div>' +
    '<table><thead><tr><th>member</th><th>role</th><th>ISR</th><th class="num">txid</th><th class="num">lag (txids)</th><th class="num">lag p50</th><th>stream</th><th>rpc</th></tr></thead>' +
    '<tbody>' + rows + '</tbody></table>' +
    '<div class="charts">' + chart('throughput', s.throughput, snap.nowMs, snap.seriesWindowMs, color, 'txid/s') +
    chart('lag', s.lag, snap.nowMs, snap.seriesWindowMs, '#9333ea', 'txids behind') + '</div></div>';
}

function datanodeTable(dns) {
  if (!dns.length) return '<p class="muted">no datanodes known</p>';
  return '<table id="datanode-table"><thead><tr><th>datanode</th><th>state</th><th class="num">capacity</th><th class="num">used</th><th></th><th class="num">blocks</th><th class="num">last heartbeat</th><th>http</th></tr></thead><tbody>' +
    dns.map(function (d) {
      var pct = d.capacityBytes ? Math.min(100, (100 * (d.usedBytes || 0)) / d.capacityBytes) : 0;
      var state = d.live === false ? '<span class="dead">dead</span>' : d.live ? '<span class="live">live</span>' : '<span class="muted">?</span>';
      if (d.registered === false) state += ' <span class="muted">(not in ZooKeeper)</span>';
      return '<tr data-datanode="' + esc(d.id) + '"><td>' + esc(d.id) + '</td><td>' + state + '</td>' +
        '<td class="num">' + bytes(d.capacityBytes) + '</td><td class="num">' + bytes(d.usedBytes) + '</td>' +
        '<td><span class="bar"><span style="width:' + pct.toFixed(1) + '%"></span></span></td>' +
        '<td class="num blocks">' + num(d.blocks) + '</td><td class="num">' + (d.lastHeartbeatAgoMs == null ? '–' : age(d.lastHeartbeatAgoMs) + ' ago') + '</td>' +
        '<td class="muted">' + esc(d.http || '') + '</td></tr>';
    }).join('') + '</tbody></table>';
}

// The failovers on one time axis: from the oldest one shown (or the charts' window) to now.
function timeline(snap) {
  var W = 900, H = 64, PAD = 16;
  var shards = snap.shards.map(function (x) { return x.shard; });
  var evs = snap.failovers;
  var from = snap.nowMs - snap.seriesWindowMs;
  evs.forEach(function (e) { if (e.atMs < from) from = e.atMs; });
  var span = Math.max(1, snap.nowMs - from);
  var x = function (t) { return PAD + ((t - from) / span) * (W - 2 * PAD); };
  var marks = evs.map(function (e) {
    var cx = x(e.atMs).toFixed(1);
    // The label goes to the left of marks in the right half, so that it stays inside the box.
    var right = x(e.atMs) > W / 2;
    return '<g class="failover-mark" data-shard="' + esc(e.shard) + '"><line x1="' + cx + '" y1="12" x2="' + cx + '" y2="' + (H - 20) + '" stroke="' + shardColor(e.shard, shards) + '" stroke-width="2"/>' +
      '<circle cx="' + cx + '" cy="12" r="5" fill="' + shardColor(e.shard, shards) + '"><title>' + esc(e.shard + ' ' + (e.from || '?') + ' → ' + e.to + ', epoch ' + e.toEpoch) + '</title></circle>' +
      '<text x="' + (x(e.atMs) + (right ? -8 : 8)).toFixed(1) + '" y="16" font-size="11" text-anchor="' + (right ? 'end' : 'start') + '" fill="#1d2430">' +
      esc(e.shard + ' → ' + e.to + ' (epoch ' + e.toEpoch + ')') + '</text></g>';
  }).join('');
  var svg = '<svg id="failover-timeline" class="chart" data-failovers="' + evs.length + '" width="100%" viewBox="0 0 ' + W + ' ' + H + '">' +
    '<line x1="' + PAD + '" y1="' + (H - 20) + '" x2="' + (W - PAD) + '" y2="' + (H - 20) + '" stroke="#98a2b3"/>' +
    '<text x="' + PAD + '" y="' + (H - 6) + '" font-size="10" fill="#667085">' + esc(clock(from)) + '</text>' +
    '<text x="' + (W - PAD) + '" y="' + (H - 6) + '" font-size="10" text-anchor="end" fill="#667085">now ' + esc(clock(snap.nowMs)) + '</text>' +
    marks + '</svg>';
  var list = evs.length
    ? '<ol id="failover-list" reversed>' + evs.slice().reverse().map(function (e) {
        return '<li data-shard="' + esc(e.shard) + '"><b>' + esc(clock(e.atMs)) + '</b> ' + esc(e.shard) + ': ' + esc(e.from || '?') + ' → <b>' + esc(e.to) +
          '</b>, epoch ' + esc(e.fromEpoch == null ? '?' : e.fromEpoch) + ' → ' + esc(e.toEpoch) +
          (e.noActiveMs == null ? '' : ' <span class="muted">(no active seen for ' + age(e.noActiveMs) + ')</span>') + '</li>';
      }).join('') + '</ol>'
    : '<p class="muted" id="failover-list-empty">no failover seen since this dashboard started</p>';
  return svg + list;
}

function render(snap) {
  document.getElementById('shards').innerHTML = snap.shards.length
    ? snap.shards.map(function (s) { return shardCard(s, snap); }).join('')
    : '<p class="muted">no shards in the registry yet</p>';
  document.getElementById('datanodes').innerHTML = datanodeTable(snap.datanodes);
  document.getElementById('failovers').innerHTML = timeline(snap);
  var stale = document.getElementById('stale-banner');
  if (snap.registry.stale) {
    stale.className = 'banner on';
    stale.innerHTML = '⚠ ZooKeeper unreachable: ' + (snap.registry.ageMs == null ? 'the registry has not been read yet' :
      'showing the registry as cached <b id="stale-age">' + esc(age(snap.registry.ageMs)) + '</b> ago') +
      (snap.registry.error ? ' <span class="muted">(' + esc(snap.registry.error) + ')</span>' : '');
  } else {
    stale.className = 'banner';
    stale.textContent = '';
  }
  document.body.classList.toggle('stale', !!snap.registry.stale);
}

function tick() {
  var ctl = new AbortController();
  var timer = setTimeout(function () { ctl.abort(); }, FETCH_TIMEOUT_MS);
  fetch('dashboard.json', { cache: 'no-store', signal: ctl.signal })
    .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
    .then(function (snap) {
      last = snap; lastOkAt = Date.now();
      render(snap);
      document.getElementById('fetch-banner').className = 'banner';
      document.getElementById('updated').textContent = 'updated ' + clock(snap.nowMs) + (snap.registry.stale ? ' · registry stale' : ' · registry live');
    })
    .catch(function (err) {
      var b = document.getElementById('fetch-banner');
      b.className = 'banner on';
      b.textContent = '⚠ the dashboard server did not answer (' + (err && err.message ? err.message : err) + ')' +
        (lastOkAt ? ': showing data from ' + age(Date.now() - lastOkAt) + ' ago' : '');
    })
    .then(function () { clearTimeout(timer); setTimeout(tick, POLL_MS); });
}
tick();
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tandem dashboard</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>Tandem</h1><span id="updated">loading…</span></header>
<div id="stale-banner" class="banner" role="alert"></div>
<div id="fetch-banner" class="banner" role="alert"></div>
<main>
<section><h2>Shards</h2><div id="shards" class="shards"></div></section>
<section><h2>Failovers</h2><div id="failovers" class="card"></div></section>
<section><h2>Datanodes</h2><div id="datanodes" class="card"></div></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
