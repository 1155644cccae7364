// The namespace shard's RPC surface: method names, argument schemas and how each maps
// onto the engine (a journaled mutation or a durable read). Arguments are validated with
// zod here, at the edge, so the pure state machine only ever sees well-typed ops.

import { z } from 'zod';
import { parseArgs } from './parse-args.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import { REPLICATION_MAX } from '../namespace/mutations.js';
import { CONCAT_SOURCES_MAX } from '../namespace/file-mutations.js';
import type { NamespaceMutation } from '../namespace/ops.js';

// Coarse bounds at the edge, from the same limits the state machine enforces exactly (it
// counts UTF-8 bytes; a string of more UTF-16 units than the byte limit is over it too).
const path = z.string().min(1).max(DEFAULT_LIMITS.pathBytesMax);
const name = z.string().min(1).max(DEFAULT_LIMITS.nameBytesMax);
const callerFields = {
  user: name,
  groups: z.array(name).max(64).default([]),
};
const mutationFields = {
  ...callerFields,
  clientId: z.string().min(1).max(128),
  callId: z.number().int().nonnegative(),
};
const permission = z.number().int().min(0).max(0o7777);

/** Mutations: RPC method → schema of its args (the op minus `type` and `time`). */
export const MUTATION_SCHEMAS = {
  'ns.mkdirs': z.object({ ...mutationFields, path, permission: permission.optional() }),
  'ns.create': z.object({
    ...mutationFields,
    path,
    overwrite: z.boolean().default(false),
    permission: permission.optional(),
    replication: z.number().int().min(1).max(REPLICATION_MAX).optional(),
    blockSize: z.number().int().min(1).max(2 ** 40).optional(),
  }),
  'ns.complete': z.object({ ...mutationFields, path, fileId: z.number().int().positive(), length: z.number().int().nonnegative() }),
  'ns.delete': z.object({ ...mutationFields, path, recursive: z.boolean().default(false) }),
  'ns.rename': z.object({ ...mutationFields, src: path, dst: path }),
  'ns.setPermission': z.object({ ...mutationFields, path, permission }),
  'ns.setOwner': z
    .object({ ...mutationFields, path, owner: name.optional(), group: name.optional() })
    .refine((a) => a.owner !== undefined || a.group !== undefined, 'setOwner needs an owner or a group'),
  'ns.setTimes': z.object({ ...mutationFields, path, mtime: z.number().int().min(-1).optional(), atime: z.number().int().min(-1).optional() }),
  'ns.setReplication': z.object({ ...mutationFields, path, replication: z.number().int().min(1).max(REPLICATION_MAX) }),
  'ns.append': z.object({ ...mutationFields, path }),
  'ns.truncate': z.object({ ...mutationFields, path, newLength: z.number().int().nonnegative() }),
  'ns.concat': z.object({ ...mutationFields, target: path, sources: z.array(path).min(1).max(CONCAT_SOURCES_MAX) }),
} as const;

export const QUERY_SCHEMAS = {
  'ns.getFileInfo': z.object({ ...callerFields, path }),
  'ns.listStatus': z.object({
    ...callerFields,
    path,
    startAfter: name.optional(),
    limit: z.number().int().positive().optional(),
  }),
  'ns.listNames': z.object({
    ...callerFields,
    path,
    startAfter: name.optional(),
    limit: z.number().int().positive().optional(),
  }),
  'ns.contentSummary': z.object({ ...callerFields, path }),
  /** fsck (superuser): every file, a page at a time in path order; `after` is the previous page's `next`. */
  'ns.listFiles': z.object({ ...callerFields, after: path.optional(), limit: z.number().int().positive().optional() }),
  /** fsck (superuser): what the namespace knows of these file ids now. */
  'ns.findFiles': z.object({ ...callerFields, fileIds: z.array(z.number().int().positive()).max(DEFAULT_LIMITS.listPageEntriesMax) }),
} as const;

export type MutationMethod = keyof typeof MUTATION_SCHEMAS;
export type QueryMethod = keyof typeof QUERY_SCHEMAS;

const MUTATION_TYPES: Record<MutationMethod, NamespaceMutation['type']> = {
  'ns.mkdirs': 'mkdirs',
  'ns.create': 'create',
  'ns.complete': 'complete',
  'ns.delete': 'delete',
  'ns.rename': 'rename',
  'ns.setPermission': 'setPermission',
  'ns.setOwner': 'setOwner',
  'ns.setTimes': 'setTimes',
  'ns.setReplication': 'setReplication',
  'ns.append': 'append',
  'ns.truncate': 'truncate',
  'ns.concat': 'concat',
};

export function isMutationMethod(method: string): method is MutationMethod {
  return Object.hasOwn(MUTATION_SCHEMAS, method);
}

export function isQueryMethod(method: string): method is QueryMethod {
  return Object.hasOwn(QUERY_SCHEMAS, method);
}

/** Turns RPC args into a journaled op, stamping the active's clock. */
export function toMutation(method: MutationMethod, args: unknown, time: number): NamespaceMutation {
  // zod's output is a fresh object of our own: set the two fields on it. (Spreading it into
  // another object cost ~4 µs a call, most of a create's validation: see `tandem bench meta`.)
  const op = parseArgs(MUTATION_SCHEMAS[method], method, args) as Record<string, unknown>;
  op.type = MUTATION_TYPES[method];
  op.time = time;
  return op as unknown as NamespaceMutation;
}

export function parseQuery<M extends QueryMethod>(method: M, args: unknown): z.output<(typeof QUERY_SCHEMAS)[M]> {
  return parseArgs(QUERY_SCHEMAS[method], method, args) as z.output<(typeof QUERY_SCHEMAS)[M]>;
}
