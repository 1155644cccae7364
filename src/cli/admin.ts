// `tandem admin …`: operator commands against a running master.
import type { Command } from 'commander';
import { clusterOptions, printJson, withClient, type ClientFlags } from './common.js';

interface AdminFlags extends ClientFlags {
  json?: boolean;
}

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('operator commands');

  clusterOptions(admin.command('save-namespace').description('write an fsimage now on the active (retention then applies)'))
    .option('--json', 'print JSON')
    .action((flags: AdminFlags) =>
      withClient(flags, async (client) => {
        const saved = await client.saveNamespace();
        if (flags.json) printJson(saved);
        else process.stdout.write(`saved ${saved.file} at txid ${saved.txid}: ${saved.bytes} bytes in ${saved.ms} ms\n`);
      }),
    );

  clusterOptions(admin.command('status').description('show what the active master is doing'))
    .option('--json', 'print JSON')
    .action((flags: AdminFlags) =>
      withClient(flags, async (client) => {
        const status = await client.status();
        if (flags.json) return printJson(status);
        for (const [k, v] of Object.entries(status)) {
          process.stdout.write(`${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
        }
      }),
    );
}
