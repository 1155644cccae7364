// What WebHDFS needs of a Tandem client: TandemClient satisfies it; the streams are typed as
// plain Writable/Readable so a route needs nothing of FileWriter or FileReader beyond them.

import type { Readable, Writable } from 'node:stream';
import type { CreateFileOptions, OpenFileOptions, TandemClient } from '../client/tandem-client.js';

export type WebHdfsClient = Pick<
  TandemClient,
  | 'user'
  | 'getFileInfo'
  | 'listStatus'
  | 'contentSummary'
  | 'mkdirs'
  | 'delete'
  | 'rename'
  | 'setPermission'
  | 'setOwner'
  | 'setTimes'
  | 'setReplication'
  | 'truncate'
  | 'concat'
  | 'getFileChecksum'
> & {
  createFile(path: string, opts?: CreateFileOptions): Promise<Writable>;
  openFile(path: string, range?: OpenFileOptions): Promise<Readable>;
  appendFile(path: string): Promise<Writable>;
};
