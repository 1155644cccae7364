// HOST:PORT parsing shared by the CLI, the client and the master.
import { TandemError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(text: string): HostPort {
  const i = text.lastIndexOf(':');
  const host = i > 0 ? text.slice(0, i).replace(/^\[(.*)\]$/, '$1') : '';
  const port = i > 0 ? Number(text.slice(i + 1)) : NaN;
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TandemError('INVALID_ARGUMENT', `expected HOST:PORT, got "${text}"`);
  }
  return { host, port };
}
