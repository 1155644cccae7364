// WebHDFS request parsing: the path from the URL and the query parameters, checked and
// bounded before anything reaches a master. Names are case-insensitive as in Hadoop (its
// ParamFilter lower-cases them); values keep their case. Every refusal is INVALID_ARGUMENT
// (IllegalArgumentException, 400) with Hadoop's wording: `Invalid value for webhdfs
// parameter "<name>": …`.

import { TandemError } from '../errors.js';
import { REPLICATION_MAX } from '../namespace/mutations.js';

export const WEBHDFS_PREFIX = '/webhdfs/v1';

export interface WebHdfsLimits {
  /** Longest path (after decoding) in UTF-8 bytes; the masters check components and depth. */
  pathBytesMax: number;
  /** Query parameters in one request, and the longest value of one. */
  paramsMax: number;
  paramBytesMax: number;
  /** CONCAT: sources in one call. */
  concatSourcesMax: number;
  /** LISTSTATUS answers at most this many entries (LISTSTATUS_BATCH pages without a bound). */
  listEntriesMax: number;
  /** Bytes of request body accepted by an operation that takes none (all of them but CREATE/APPEND at a datanode). */
  bodyBytesMax: number;
}

export const DEFAULT_WEBHDFS_LIMITS: WebHdfsLimits = {
  pathBytesMax: 8 * 1024,
  paramsMax: 32,
  paramBytesMax: 64 * 1024,
  concatSourcesMax: 1_000,
  listEntriesMax: 100_000,
  bodyBytesMax: 64 * 1024,
};

/** Every operation, by the HTTP method that carries it (as HDFS's GetOpParam, PutOpParam, PostOpParam, DeleteOpParam). */
export const OPS_BY_METHOD = {
  GET: ['OPEN', 'GETFILESTATUS', 'LISTSTATUS', 'LISTSTATUS_BATCH', 'GETCONTENTSUMMARY', 'GETFILECHECKSUM', 'GETHOMEDIRECTORY'],
  PUT: ['CREATE', 'MKDIRS', 'RENAME', 'SETREPLICATION', 'SETOWNER', 'SETPERMISSION', 'SETTIMES'],
  POST: ['APPEND', 'CONCAT', 'TRUNCATE'],
  DELETE: ['DELETE'],
} as const;

export type HttpMethod = keyof typeof OPS_BY_METHOD;
export type WebHdfsOp = (typeof OPS_BY_METHOD)[HttpMethod][number];

const BOOLEAN_PARAMS = ['overwrite', 'recursive', 'noredirect', 'createparent'];
/** Integer parameters and their ranges (replication is a short in HDFS; times are ms, -1 for unchanged). */
export const INTEGER_PARAMS = [
  ['offset', 0, Number.MAX_SAFE_INTEGER],
  ['length', 0, Number.MAX_SAFE_INTEGER],
  ['newlength', 0, Number.MAX_SAFE_INTEGER],
  ['replication', 1, REPLICATION_MAX],
  ['blocksize', 1, 32 * 1024 * 1024 * 1024],
  ['buffersize', 1, 2 ** 31 - 1],
  ['modificationtime', -1, 253_402_300_799_999],
  ['accesstime', -1, 253_402_300_799_999],
] as const satisfies ReadonlyArray<readonly [string, number, number]>;

export type IntegerParam = (typeof INTEGER_PARAMS)[number][0];

/** The range of an integer parameter. */
function integerRange(name: IntegerParam): readonly [number, number] {
  const found = INTEGER_PARAMS.find(([n]) => n === name)!;
  return [found[1], found[2]];
}

/** Hadoop's default user-name pattern (dfs.webhdfs.user.provider.user.pattern), bounded in length. */
const USER_PATTERN = /^[A-Za-z_][A-Za-z0-9._-]{0,63}\$?$/;
/** Hadoop's anonymous user when simple authentication allows anonymous requests. */
export const ANONYMOUS_USER = 'dr.who';

function invalid(name: string, value: string, why: string): TandemError {
  const shown = value.length > 100 ? `${value.slice(0, 100)}…` : value;
  return new TandemError('INVALID_ARGUMENT', `Invalid value for webhdfs parameter "${name}": ${why}, got "${shown}"`);
}

/** The file-system path of a request URL (`/webhdfs/v1/a/b?…` → `/a/b`), decoded and bounded. */
export function pathOfUrl(url: string, limits: WebHdfsLimits = DEFAULT_WEBHDFS_LIMITS): string {
  const raw = url.split('?', 1)[0]!;
  if (!raw.startsWith(WEBHDFS_PREFIX)) throw new TandemError('INVALID_PATH', `not a WebHDFS URL: "${raw.slice(0, 100)}"`);
  return checkPath(decodePath(raw.slice(WEBHDFS_PREFIX.length) || '/'), 'path', limits);
}

function decodePath(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new TandemError('INVALID_PATH', `the path is not valid percent-encoded UTF-8: "${encoded.slice(0, 100)}"`);
  }
}

/**
 * An absolute path, bounded; one trailing '/' dropped (`/a/` is `/a`, as Hadoop's Path
 * normalises it). The masters reject empty, '.' and '..' components and too deep paths.
 */
export function checkPath(path: string, what: string, limits: WebHdfsLimits = DEFAULT_WEBHDFS_LIMITS): string {
  if (!path.startsWith('/')) throw new TandemError('INVALID_PATH', `${what} must be an absolute path, got "${path.slice(0, 100)}"`);
  if (path.includes('\0')) throw new TandemError('INVALID_PATH', `${what} contains a NUL character`);
  if (Buffer.byteLength(path) > limits.pathBytesMax) throw new TandemError('INVALID_PATH', `${what} is longer than ${limits.pathBytesMax} bytes`);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** The query of one request: names lower-cased, one value each, bounded. */
export class Params {
  private readonly values = new Map<string, string>();

  constructor(query: unknown, limits: WebHdfsLimits = DEFAULT_WEBHDFS_LIMITS) {
    const entries = Object.entries((query ?? {}) as Record<string, unknown>);
    if (entries.length > limits.paramsMax) throw new TandemError('INVALID_ARGUMENT', `too many query parameters: ${entries.length}, at most ${limits.paramsMax}`);
    for (const [name, value] of entries) {
      const key = name.toLowerCase();
      if (typeof value !== 'string') throw new TandemError('INVALID_ARGUMENT', `webhdfs parameter "${key}" is given more than once`);
      if (this.values.has(key)) throw new TandemError('INVALID_ARGUMENT', `webhdfs parameter "${key}" is given more than once`);
      if (Buffer.byteLength(value) > limits.paramBytesMax) throw new TandemError('INVALID_ARGUMENT', `webhdfs parameter "${key}" is longer than ${limits.paramBytesMax} bytes`);
      this.values.set(key, value);
    }
  }

  /** The raw value ('' counts as absent, as Hadoop's "null" default). */
  string(name: string): string | undefined {
    const value = this.values.get(name);
    return value === undefined || value === '' ? undefined : value;
  }

  /** The operation for this HTTP method; an unknown op or one of another method is refused. */
  op(method: string): WebHdfsOp {
    const given = this.string('op');
    if (given === undefined) throw new TandemError('INVALID_ARGUMENT', 'webhdfs parameter "op" is missing');
    const op = given.toUpperCase();
    const ops = (OPS_BY_METHOD as Record<string, readonly string[]>)[method];
    if (!ops) throw new TandemError('UNSUPPORTED', `WebHDFS has no operations over HTTP ${method}`);
    if (!ops.includes(op)) {
      const other = Object.entries(OPS_BY_METHOD).find(([, list]) => (list as readonly string[]).includes(op));
      throw invalid('op', given, other ? `${op} must be sent with HTTP ${other[0]}, not ${method}` : `no such operation for HTTP ${method} (one of ${ops.join(', ')})`);
    }
    return op as WebHdfsOp;
  }

  /** The caller: `user.name`, or Hadoop's anonymous user. */
  user(): string {
    const user = this.string('user.name');
    if (user === undefined) return ANONYMOUS_USER;
    if (!USER_PATTERN.test(user)) throw invalid('user.name', user, `must match ${USER_PATTERN.source}`);
    return user;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.string(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    throw invalid(name, value, 'must be true or false');
  }

  /** A decimal integer in the parameter's range (INTEGER_PARAMS), or undefined when absent. */
  integer(name: IntegerParam): number | undefined {
    const [min, max] = integerRange(name);
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!/^-?\d{1,16}$/.test(value)) throw invalid(name, value, 'must be a decimal integer');
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw invalid(name, value, `must be an integer in ${min}..${max}`);
    return n;
  }

  /** An octal permission (`755`, `0644`, `1777`), or undefined when absent. */
  permission(): number | undefined {
    const value = this.string('permission');
    if (value === undefined) return undefined;
    if (!/^[01]?[0-7]{1,3}$/.test(value)) throw invalid('permission', value, 'must be an octal permission in 0..1777');
    return parseInt(value, 8);
  }

  /** A path-valued parameter (`destination`), checked like the URL's path. */
  path(name: string, limits: WebHdfsLimits = DEFAULT_WEBHDFS_LIMITS): string | undefined {
    const value = this.string(name);
    return value === undefined ? undefined : checkPath(value, `webhdfs parameter "${name}"`, limits);
  }

  /**
   * Checks every parameter WebHDFS defines, whichever operation is asked for: Hadoop parses
   * them all (a bad `noredirect` on GETFILESTATUS is still a 400), and so does this.
   */
  checkAll(): void {
    for (const name of BOOLEAN_PARAMS) this.boolean(name, false);
    for (const [name] of INTEGER_PARAMS) this.integer(name);
    this.permission();
    this.user();
  }

  required<T>(name: string, value: T | undefined): T {
    if (value === undefined) throw new TandemError('INVALID_ARGUMENT', `webhdfs parameter "${name}" is required for this operation`);
    return value;
  }
}
