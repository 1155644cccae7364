// The shapes of the Tandem RPC protocol (DESIGN.md §7) and the checks that guard them.
// Every message is one msgpack map per frame:
//
//   client → server, first frame   {hello: {version, client, nonce?}}
//   server → client, first frame   {hello: {version, server, nonce?, proof?}}   or   {id: 0, error} and close
//   client → server, optional      {auth: {proof}}            (right after the server's hello)
//   client → server                {id ≥ 1, method, args, deadlineMs?}
//
// With a cluster secret (src/security/cluster-secret.ts) the hello is a mutual
// challenge-response: each side sends a fresh nonce, and proves it holds the secret with an
// HMAC over the other's nonce and its own name. The server's proof comes in its hello (when
// the client sent a nonce); the client's in the auth frame. A client without the secret
// (any user's TandemClient) sends neither: its connection stays unauthenticated, which
// only matters for internal methods (they answer UNAUTHENTICATED).
//   server → client                {id, ok: value}   or   {id, error: {code, message}}
//
// An error with id 0 is about the connection itself; the sender closes right after it.
// The validators are hand-written rather than zod schemas because they run once per call.

export const PROTOCOL_VERSION = 1;

/** The id that marks a connection-level error (never used by a call). */
export const CONNECTION_ERROR_ID = 0;

export interface WireError {
  code: string;
  message: string;
}

export interface ClientHello {
  hello: { version: number; client: string };
}

export interface ServerHello {
  hello: { version: number; server: string; nonce?: string; proof?: string };
}

/** The client's proof of the cluster secret, over the server's nonce. */
export interface AuthFrame {
  auth: { proof: string };
}

/** The nonce and proof a hello carries, if any (validated by the caller). */
export function helloAuthFields(value: unknown): { nonce: unknown; proof: unknown } {
  const hello = isPlainObject(value) && isPlainObject(value.hello) ? value.hello : {};
  return { nonce: hello.nonce, proof: hello.proof };
}

/** True when `value` is an auth frame (the client's proof); its contents are checked by the server. */
export function isAuthFrame(value: unknown): value is { auth: unknown } {
  return isPlainObject(value) && 'auth' in value && !('id' in value);
}

export interface RequestFrame {
  /** Chosen by the client, unique among its calls in flight on this connection. */
  id: number;
  method: string;
  args: unknown;
  /**
   * The caller's remaining budget in ms when it sent the call. Absent (or nil, as other
   * languages may send it) means the server's default, limits.callDeadlineMs.
   */
  deadlineMs?: number | null;
}

export interface OkReplyFrame {
  id: number;
  ok: unknown;
}

export interface ErrorReplyFrame {
  id: number;
  error: WireError;
}

export type ReplyFrame = OkReplyFrame | ErrorReplyFrame;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCallId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

function isDeadlineMs(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'number' && Number.isFinite(value) && value >= 0);
}

/** True when `value` is a well-formed request. The hot path: no allocation. */
export function isRequestFrame(value: unknown): value is RequestFrame {
  return (
    isPlainObject(value) && isCallId(value.id) && typeof value.method === 'string' && isDeadlineMs(value.deadlineMs)
  );
}

/** Why `value` is not a request, for the MALFORMED_FRAME message. Cold path. */
export function requestProblem(value: unknown): string {
  if (!isPlainObject(value)) return 'a request must be a map';
  if (!isCallId(value.id)) return 'a request id must be an integer ≥ 1';
  if (typeof value.method !== 'string') return 'a request method must be a string';
  if (!isDeadlineMs(value.deadlineMs)) return 'deadlineMs must be a finite number ≥ 0';
  return 'the request is well formed';
}

/** The call id of a malformed message when one can be read, else CONNECTION_ERROR_ID. */
export function readCallId(value: unknown): number {
  return isPlainObject(value) && isCallId(value.id) ? value.id : CONNECTION_ERROR_ID;
}

/** True when `value` is a well-formed reply (id 0 allowed: a connection-level error). */
export function isReplyFrame(value: unknown): value is ReplyFrame {
  if (!isPlainObject(value)) return false;
  const id = value.id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return false;
  if ('ok' in value) return id >= 1 && !('error' in value);
  return isWireError(value.error);
}

export function isErrorReply(reply: ReplyFrame): reply is ErrorReplyFrame {
  return 'error' in reply;
}

export function isWireError(value: unknown): value is WireError {
  return isPlainObject(value) && typeof value.code === 'string';
}

export type HelloCheck =
  | { kind: 'ok'; version: number; peerName: string }
  | { kind: 'version-mismatch'; version: number }
  | { kind: 'malformed'; problem: string }
  | { kind: 'not-hello' };

/**
 * Reads a hello sent by `peer`. The version is checked before the rest so that a peer of
 * another version learns VERSION_MISMATCH even if its hello has grown other fields.
 */
export function checkHello(value: unknown, peer: 'client' | 'server'): HelloCheck {
  if (!isPlainObject(value) || !('hello' in value)) return { kind: 'not-hello' };
  const hello = value.hello;
  if (!isPlainObject(hello)) return { kind: 'malformed', problem: 'hello must be a map' };
  const version = hello.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version)) {
    return { kind: 'malformed', problem: 'hello.version must be an integer' };
  }
  if (version !== PROTOCOL_VERSION) return { kind: 'version-mismatch', version };
  const peerName = hello[peer];
  if (typeof peerName !== 'string') return { kind: 'malformed', problem: `hello.${peer} must be a string` };
  return { kind: 'ok', version, peerName };
}

/** Shortens a peer-supplied string before it goes into a log line or an error message. */
export function clip(text: string, charsMax = 120): string {
  return text.length <= charsMax ? text : `${text.slice(0, charsMax)}…`;
}

// Largest delay setTimeout honours; a longer one silently becomes 1 ms.
const TIMER_DELAY_MS_MAX = 2 ** 31 - 1;

/**
 * One timer for every deadline of a connection or server, armed at the earliest one.
 * A timer per call would cost a Timeout object and two timer-list operations per call;
 * here a call only touches the timer when its deadline is the new earliest, and with
 * deadlines of similar length that is rare. When the timer fires, its owner sweeps its
 * calls, answers the expired ones and calls watch() with the earliest remaining deadline.
 */
export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() ms the timer fires at; Infinity when it is not armed. */
  private armedAtMs = Infinity;

  constructor(private readonly onDue: () => void) {}

  /** Makes sure onDue runs no later than `deadlineAtMs` (performance.now() ms). */
  watch(deadlineAtMs: number): void {
    if (deadlineAtMs >= this.armedAtMs || !Number.isFinite(deadlineAtMs)) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedAtMs = deadlineAtMs;
    // +1: setTimeout may fire a fraction of a ms early relative to performance.now().
    const delayMs = Math.min(Math.max(deadlineAtMs - performance.now() + 1, 0), TIMER_DELAY_MS_MAX);
    this.timer = setTimeout(fireDeadlineTimer, delayMs, this);
    // The sockets keep the process alive while calls are pending; the timer alone should not.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAtMs = Infinity;
  }

  /** @internal */
  fire(): void {
    this.timer = undefined;
    this.armedAtMs = Infinity;
    this.onDue();
  }
}

function fireDeadlineTimer(timer: DeadlineTimer): void {
  timer.fire();
}
