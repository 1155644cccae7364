// What WebHDFS needs of a Tandem client, and the bridge to the file operations that
// TandemClient gains in the same release (APPEND, TRUNCATE, CONCAT, SETREPLICATION,
// GETFILECHECKSUM). The bridge looks for each method on the client at call time: a client
// without it answers UNSUPPORTED (UnsupportedOperationException), one with it is used as
// is — no change here when the methods land.

import type { Readable, Writable } from 'node:stream';
import type { CreateFileOptions, OpenFileOptions, TandemClient } from '../client/tandem-client.js';
import { TandemError } from '../errors.js';

/** The part of TandemClient every WebHDFS operation but the five below uses (TandemClient satisfies it). */
export type WebHdfsClient = Pick<
  TandemClient,
  'user' | 'getFileInfo' | 'listStatus' | 'contentSummary' | 'mkdirs' | 'delete' | 'rename' | 'setPermission' | 'setOwner' | 'setTimes'
> & {
  createFile(path: string, opts?: CreateFileOptions): Promise<Writable>;
  openFile(path: string, range?: OpenFileOptions): Promise<Readable>;
};

export interface FileChecksum {
  algorithm: string;
  /** Hex, or raw bytes (written as hex). */
  bytes: string | Uint8Array;
  length: number;
}

/** The file operations TandemClient gains alongside WebHDFS, with their exact signatures. */
export interface ExtendedFileOps {
  setReplication(path: string, replication: number): Promise<boolean>;
  appendFile(path: string): Promise<Writable>;
  truncate(path: string, newLength: number): Promise<boolean>;
  concat(target: string, sources: string[]): Promise<void>;
  getFileChecksum(path: string): Promise<FileChecksum>;
}

export type WebHdfsFileSystem = WebHdfsClient & ExtendedFileOps;

const bridges = new WeakMap<WebHdfsClient, WebHdfsFileSystem>();

/** The client with the extended operations it has, and UNSUPPORTED for those it lacks (one bridge per client). */
export function fileSystemOf(client: WebHdfsClient): WebHdfsFileSystem {
  let bridge = bridges.get(client);
  if (!bridge) bridges.set(client, (bridge = makeBridge(client)));
  return bridge;
}

function makeBridge(client: WebHdfsClient): WebHdfsFileSystem {
  const extended = client as WebHdfsClient & Partial<ExtendedFileOps>;
  const lacking = (name: keyof ExtendedFileOps): Promise<never> =>
    Promise.reject(new TandemError('UNSUPPORTED', `${name} is not supported by this Tandem client yet`));
  return {
    user: client.user,
    getFileInfo: (path) => client.getFileInfo(path),
    listStatus: (path, opts) => client.listStatus(path, opts),
    contentSummary: (path) => client.contentSummary(path),
    mkdirs: (path, opts) => client.mkdirs(path, opts),
    delete: (path, opts) => client.delete(path, opts),
    rename: (src, dst) => client.rename(src, dst),
    setPermission: (path, permission) => client.setPermission(path, permission),
    setOwner: (path, owner) => client.setOwner(path, owner),
    setTimes: (path, times) => client.setTimes(path, times),
    createFile: (path, opts) => client.createFile(path, opts),
    openFile: (path, range) => client.openFile(path, range),
    setReplication: (path, replication) => (extended.setReplication ? extended.setReplication(path, replication) : lacking('setReplication')),
    appendFile: (path) => (extended.appendFile ? extended.appendFile(path) : lacking('appendFile')),
    truncate: (path, newLength) => (extended.truncate ? extended.truncate(path, newLength) : lacking('truncate')),
    concat: (target, sources) => (extended.concat ? extended.concat(target, sources) : lacking('concat')),
    getFileChecksum: (path) => (extended.getFileChecksum ? extended.getFileChecksum(path) : lacking('getFileChecksum')),
  };
}
