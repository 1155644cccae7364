// The `tandem` command: one subcommand per role or tool (DESIGN §2).
import { Command } from 'commander';
import { registerAdapter } from './adapter.js';
import { registerAdmin } from './admin.js';
import { registerBench } from './bench.js';
import { registerDashboardCommand } from './dashboard.js';
import { registerDatanode } from './datanode.js';
import { registerFs } from './fs.js';
import { registerMaster } from './master.js';
import { registerMonitor } from './monitor.js';
import { registerUp } from './up.js';

// `tandem … | head`: the reader went away. Stop quietly, as Unix tools do, rather than crash
// on an unhandled EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command();
program.name('tandem').description('Tandem: a distributed file system with highly available metadata masters');
registerMaster(program);
registerMonitor(program);
registerDatanode(program);
registerAdapter(program);
registerFs(program);
registerAdmin(program);
registerBench(program);
registerUp(program);
registerDashboardCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`tandem: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
