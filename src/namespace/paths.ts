// Path syntax. A Tandem path is absolute: '/' alone is the root, anything else is '/'
// followed by '/'-separated components. Rejecting every other spelling here (no '//', no
// trailing '/', no '.' or '..') means one inode has exactly one path, so the rest of the
// namespace can compare paths component by component.

import { failure, quote, type Failure } from './failure.js';

export interface PathLimits {
  /** Longest path, in UTF-8 bytes. */
  pathBytesMax: number;
  /** Most components in a path. */
  pathDepthMax: number;
  /** Longest component, in UTF-8 bytes. */
  nameBytesMax: number;
}

export type ParsedPath = { ok: true; components: string[] } | Failure;

/**
 * UTF-8 length of a string, or -1 when it holds a lone surrogate. Such a string has no
 * UTF-8 form: msgpack would turn it into U+FFFD and an image would not replay to the
 * state that wrote it, so it is refused at the door.
 */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return -1;
      bytes += 4;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) return -1;
    else bytes += 3;
  }
  return bytes;
}

function invalid(path: string, reason: string): Failure {
  return failure('INVALID_PATH', `invalid path ${quote(path)}: ${reason}`);
}

/** Why a single component is not a valid name, or null when it is. */
export function nameProblem(name: string, nameBytesMax: number): string | null {
  if (name.length === 0) return "it has an empty component (a '//' or a trailing '/')";
  if (name === '.' || name === '..') return `a component is ${quote(name)}`;
  if (name.includes(':')) return `component ${quote(name)} contains ':'`;
  if (name.includes('\u0000')) return `component ${quote(name)} contains NUL`;
  if (name.includes('/')) return `component ${quote(name)} contains '/'`;
  const bytes = utf8ByteLength(name);
  if (bytes < 0) return `component ${quote(name)} is not valid Unicode (lone surrogate)`;
  if (bytes > nameBytesMax) return `component ${quote(name)} is ${bytes} bytes, more than the limit of ${nameBytesMax}`;
  return null;
}

/** Splits a path into its components ([] for the root), or says why it is invalid. */
export function parsePath(path: unknown, limits: PathLimits): ParsedPath {
  if (typeof path === 'string') {
    const components = splitValidPath(path, limits);
    if (components !== null) return { ok: true, components };
  }
  return explainPath(path, limits);
}

const SLASH = 0x2f;
const DOT = 0x2e;
const COLON = 0x3a;

/**
 * The components of a valid path, in one pass over its UTF-16 units, or null when
 * anything about it is off (explainPath then says what). Every create, stat and list
 * parses a path on the active and again on each standby; this did it in six passes and
 * a split (`tandem bench meta`: ~14% of a create's apply, measured in-process).
 */
function splitValidPath(path: string, limits: PathLimits): string[] | null {
  const length = path.length;
  // UTF-8 never takes fewer bytes than UTF-16 units, so this bounds the work too.
  if (length === 0 || length > limits.pathBytesMax || path.charCodeAt(0) !== SLASH) return null;
  if (length === 1) return [];
  const components: string[] = [];
  let bytes = 1;
  let start = 1;
  let nameBytes = 0;
  for (let i = 1; i <= length; i++) {
    const unit = i === length ? SLASH : path.charCodeAt(i);
    if (unit === SLASH) {
      const units = i - start;
      if (units === 0 || nameBytes > limits.nameBytesMax) return null;
      if (units <= 2 && path.charCodeAt(start) === DOT && (units === 1 || path.charCodeAt(start + 1) === DOT)) return null;
      if (components.length === limits.pathDepthMax) return null;
      components.push(path.substring(start, i));
      bytes += nameBytes + (i === length ? 0 : 1);
      start = i + 1;
      nameBytes = 0;
    } else if (unit < 0x80) {
      if (unit === COLON || unit === 0) return null;
      nameBytes += 1;
    } else if (unit < 0x800) {
      nameBytes += 2;
    } else if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = path.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return null;
      nameBytes += 4;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return null;
    } else {
      nameBytes += 3;
    }
  }
  return bytes > limits.pathBytesMax ? null : components;
}

/** parsePath the slow way, check by check: says why a path is invalid (and splits a valid one the same). */
export function explainPath(path: unknown, limits: PathLimits): ParsedPath {
  if (typeof path !== 'string') return failure('INVALID_PATH', `a path must be a string, got ${typeof path}`);
  if (!path.startsWith('/')) return invalid(path, "it is not absolute (it must start with '/')");
  const bytes = utf8ByteLength(path);
  if (bytes < 0) return invalid(path, 'it is not valid Unicode (lone surrogate)');
  if (bytes > limits.pathBytesMax) return invalid(path, `it is ${bytes} bytes, more than the limit of ${limits.pathBytesMax}`);
  if (path === '/') return { ok: true, components: [] };
  const components = path.slice(1).split('/');
  if (components.length > limits.pathDepthMax) {
    return invalid(path, `it has ${components.length} components, more than the limit of ${limits.pathDepthMax}`);
  }
  for (const name of components) {
    const problem = nameProblem(name, limits.nameBytesMax);
    if (problem !== null) return invalid(path, problem);
  }
  return { ok: true, components };
}

/** The path named by the first `count` components. */
export function pathOfComponents(components: readonly string[], count = components.length): string {
  if (count === 0) return '/';
  let path = '';
  for (let i = 0; i < count; i++) path += `/${components[i]}`;
  return path;
}
