// The npm `webhdfs` package (callback API, no type declarations) as promises, for tests.
import type { createRequire } from 'node:module';

export interface NpmFileStatus {
  pathSuffix: string;
  type: 'FILE' | 'DIRECTORY';
  length: number;
  owner: string;
}

export interface NpmWebHdfs {
  mkdir(path: string): Promise<void>;
  writeFile(path: string, data: Buffer | string): Promise<void>;
  appendFile(path: string, data: Buffer | string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  readdir(path: string): Promise<NpmFileStatus[]>;
  stat(path: string): Promise<NpmFileStatus>;
  exists(path: string): Promise<boolean>;
  rename(path: string, destination: string): Promise<void>;
  unlink(path: string, recursive?: boolean): Promise<void>;
}

type Callback<T> = (err: Error | null, value?: T) => void;

interface RawClient {
  mkdir(path: string, cb: Callback<void>): void;
  writeFile(path: string, data: Buffer | string, cb: Callback<void>): void;
  appendFile(path: string, data: Buffer | string, cb: Callback<void>): void;
  readFile(path: string, cb: Callback<Buffer>): void;
  readdir(path: string, cb: Callback<NpmFileStatus[]>): void;
  stat(path: string, cb: Callback<NpmFileStatus>): void;
  exists(path: string, cb: (exists: boolean) => void): void;
  rename(path: string, destination: string, cb: Callback<void>): void;
  unlink(path: string, recursive: boolean, cb: Callback<void>): void;
}

export function webHdfsPackage(require: ReturnType<typeof createRequire>, opts: { user: string; host: string; port: number; path: string }): NpmWebHdfs {
  const { createClient } = require('webhdfs') as { createClient: (o: typeof opts) => RawClient };
  const raw = createClient(opts);
  const promised = <T>(start: (cb: Callback<T>) => void): Promise<T> =>
    new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value as T))));
  return {
    mkdir: (path) => promised((cb) => raw.mkdir(path, cb)),
    writeFile: (path, data) => promised((cb) => raw.writeFile(path, data, cb)),
    appendFile: (path, data) => promised((cb) => raw.appendFile(path, data, cb)),
    readFile: (path) => promised((cb) => raw.readFile(path, cb)),
    readdir: (path) => promised((cb) => raw.readdir(path, cb)),
    stat: (path) => promised((cb) => raw.stat(path, cb)),
    exists: (path) => new Promise((resolve) => raw.exists(path, resolve)),
    rename: (path, destination) => promised((cb) => raw.rename(path, destination, cb)),
    unlink: (path, recursive = false) => promised((cb) => raw.unlink(path, recursive, cb)),
  };
}
