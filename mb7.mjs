import { toMutation } from './dist/src/master/namespace-methods.js';
import { encodeRecord, decodeRecordAt } from './dist/src/replication/record-codec.js';
import { Packr } from 'msgpackr';
import { crc32c } from '@node-rs/crc32';
const packr = new Packr({ useRecords: false });
function mapForm(r) { const body = packr.pack({ txid: r.txid, epoch: r.epoch, op: r.op }); const out = Buffer.allocUnsafe(8 + body.length); out.writeUInt32BE(body.length, 0); out.writeUInt32BE(crc32c(body), 4); body.copy(out, 8); return out; }
function bench(name, n, f) { const c = process.cpuUsage(); for (let i = 0; i < n; i++) f(i); const u = process.cpuUsage(c); return (u.user + u.system) * 1000 / n; }
const args = (i) => ({ user: 'root', groups: [], clientId: 'c-7f3a9b2e-1c4d-4e8f-9a0b-123456789abc', callId: i, path: `/bench/create/r1234/d${i % 100}/f${i}`, overwrite: false, permission: 420 });
const ops = Array.from({ length: 1000 }, (_, i) => toMutation('ns.create', args(i), 1700000000000 + i));
const recs = ops.map((op, i) => ({ txid: i + 1, epoch: 3, op }));
const compact = recs.map(encodeRecord), maps = recs.map(mapForm);
const res = { encC: [], encM: [], decC: [], decM: [] };
for (let r = 0; r < 8; r++) {
  res.encC.push(bench('', 200000, (i) => encodeRecord(recs[i % 1000])));
  res.encM.push(bench('', 200000, (i) => mapForm(recs[i % 1000])));
  res.decC.push(bench('', 200000, (i) => decodeRecordAt(compact[i % 1000], 0)));
  res.decM.push(bench('', 200000, (i) => decodeRecordAt(maps[i % 1000], 0)));
}
for (const [k, v] of Object.entries(res)) { v.sort((a, b) => a - b); console.log(k, 'min', v[0].toFixed(0), 'median', v[4].toFixed(0), 'ns cpu'); }
