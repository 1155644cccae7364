import { Packr } from 'msgpackr';
const packr = new Packr({ useRecords: false });
function bench(n, f) { const c = process.cpuUsage(); for (let i = 0; i < n; i++) f(i); const u = process.cpuUsage(c); return (u.user + u.system) * 1000 / n; }
const SHAPE = ['create', 'user', 'groups', 'clientId', 'callId', 'time', 'path', 'overwrite', 'permission', 'replication', 'blockSize'];
const N = 1000;
const ops = Array.from({ length: N }, (_, i) => ({ user: 'root', groups: [], clientId: 'c-7f3a9b2e-1c4d-4e8f-9a0b-123456789abc', callId: i, path: `/bench/create/r1234/d${i % 100}/f${i}`, overwrite: false, permission: 420, type: 'create', time: 1700000000000 + i }));
const arrs = ops.map((op, i) => { const a = [i + 1, 3, 0]; for (let k = 1; k < SHAPE.length; k++) a.push(op[SHAPE[k]] ?? null); while (a.at(-1) === null) a.pop(); return a; });
function genericDecode(f) { const op = { type: SHAPE[0] }; for (let i = 3; i < f.length; i++) { const v = f[i]; if (v !== null) op[SHAPE[i - 2]] = v; } return op; }
const genDecode = new Function('f', `const op = { type: ${JSON.stringify(SHAPE[0])} }; const n = f.length; ${SHAPE.slice(1).map((k, j) => `if (n > ${j + 3} && f[${j + 3}] !== null) op.${k} = f[${j + 3}];`).join(' ')} return op;`);
function genericEncode(op) { const out = [1, 3, 0]; let present = 1, end = 3; for (let i = 1; i < SHAPE.length; i++) { const v = op[SHAPE[i]]; if (v === null) return null; if (v !== undefined) { present++; end = out.length + 1; } out.push(v === undefined ? null : v); } let fields = 0; for (const key in op) if (Object.hasOwn(op, key)) fields++; if (fields !== present) return null; out.length = end; return out; }
function keysEncode(op) { const out = [1, 3, 0]; let present = 1, end = 3; for (let i = 1; i < SHAPE.length; i++) { const v = op[SHAPE[i]]; if (v === null) return null; if (v !== undefined) { present++; end = out.length + 1; } out.push(v === undefined ? null : v); } if (Object.keys(op).length !== present) return null; out.length = end; return out; }
const res = { genericDecode: [], genDecode: [], genericEncode: [], keysEncode: [] };
for (let r = 0; r < 8; r++) {
  res.genericDecode.push(bench(300000, (i) => genericDecode(arrs[i % N])));
  res.genDecode.push(bench(300000, (i) => genDecode(arrs[i % N])));
  res.genericEncode.push(bench(300000, (i) => genericEncode(ops[i % N])));
  res.keysEncode.push(bench(300000, (i) => keysEncode(ops[i % N])));
}
for (const [k, v] of Object.entries(res)) { v.sort((a, b) => a - b); console.log(k, 'min', v[0].toFixed(0), 'median', v[4].toFixed(0), 'ns cpu'); }
