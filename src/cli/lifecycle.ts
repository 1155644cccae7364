// How a long-running role (master, datanode, monitor) starts and stops: a start that fails
// with a typed error is one fatal log line and exit 1 (anything else is a bug and throws);
// SIGTERM and SIGINT stop it cleanly, exit 0 (1 when the stop itself fails).

import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';

export async function startOrExit<T>(log: Logger, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (err instanceof TandemError) {
      log.fatal({ code: err.code }, `cannot start: ${err.message}`);
      log.flush();
      process.exit(1);
    }
    throw err;
  }
}

export function stopOnSignals(log: Logger, stop: () => Promise<void>): void {
  const onSignal = (signal: string): void => {
    log.info({ signal }, `received ${signal}; stopping`);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}
