import { toMutation } from './dist/src/master/namespace-methods.js';
import { createNamespaceMachine } from './dist/src/namespace/machine.js';
function bench(name, n, f) { const c = process.cpuUsage(); for (let i = 0; i < n; i++) f(i); const u = process.cpuUsage(c); console.log(name.padEnd(28), ((u.user + u.system) * 1000 / n).toFixed(0), 'ns cpu'); }
const args = (i) => ({ user: 'root', groups: [], clientId: 'c-7f3a9b2e-1c4d-4e8f-9a0b-123456789abc', callId: i, path: `/bench/create/r1234/d${i % 100}/f${i}`, overwrite: false, permission: 420 });
const m = createNamespaceMachine({ superuser: 'root' });
for (let r = 0; r < 4; r++) {
  const s = m.initial();
  m.apply(s, { type: 'mkdirs', path: '/bench/create/r1234', user: 'root', groups: [], clientId: 'x', callId: -1, time: 1 });
  const ops = Array.from({ length: 100000 }, (_, i) => toMutation('ns.create', args(i), 1700000000000 + i));
  if (global.gc) global.gc();
  bench('apply(create)', 100000, (i) => m.apply(s, ops[i]));
}
