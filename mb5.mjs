import { Packr } from 'msgpackr';
const packr = new Packr({ useRecords: false });
function bench(n, f) { const c = process.cpuUsage(); for (let i = 0; i < n; i++) f(i); const u = process.cpuUsage(c); return (u.user + u.system) * 1000 / n; }
const N = 1000;
const maps = Array.from({ length: N }, (_, i) => ({ txid: i + 1, epoch: 3, op: { user: 'root', groups: [], clientId: 'c-7f3a9b2e-1c4d-4e8f-9a0b-123456789abc', callId: i, path: `/bench/create/r1234/d${i % 100}/f${i}`, overwrite: false, permission: 420, type: 'create', time: 1700000000000 + i } }));
const arrs = maps.map((m) => [m.txid, m.epoch, 0, m.op.user, m.op.groups, m.op.clientId, m.op.callId, m.op.time, m.op.path, m.op.overwrite, m.op.permission]);
const em = maps.map((m) => packr.pack(m)), ea = arrs.map((a) => packr.pack(a));
const res = { unpackMap: [], unpackArr: [], packMap: [], packArr: [] };
for (let r = 0; r < 8; r++) {
  res.unpackMap.push(bench(200000, (i) => packr.unpack(em[i % N])));
  res.unpackArr.push(bench(200000, (i) => packr.unpack(ea[i % N])));
  res.packMap.push(bench(200000, (i) => packr.pack(maps[i % N])));
  res.packArr.push(bench(200000, (i) => packr.pack(arrs[i % N])));
}
for (const [k, v] of Object.entries(res)) { v.sort((a, b) => a - b); console.log(k, 'min', v[0].toFixed(0), 'median', v[4].toFixed(0), 'ns cpu'); }
