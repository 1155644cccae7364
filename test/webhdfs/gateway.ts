// A WebHDFS gateway for tests: the namenode-side routes on a fastify server in the test
// process, in front of a real DataCluster (whose datanode processes serve the data side),
// with one TandemClient per user.name made from the cluster's ZooKeeper.
import Fastify, { type FastifyInstance } from 'fastify';
import { after, before } from 'node:test';
import { DATANODES_PATH } from '../../src/election/layout.js';
import { webHdfsFrameworkErrors } from '../../src/webhdfs/http-scope.js';
import { registerWebHdfs, type WebHdfsDatanode } from '../../src/webhdfs/namenode-routes.js';
import { UserClients } from '../../src/webhdfs/user-clients.js';
import { DataCluster, type DataClusterOptions } from '../helpers/data-cluster.js';
import type { TandemClient } from '../../src/client/tandem-client.js';

export interface Gateway {
  cluster: DataCluster;
  /** A client acting as the superuser, for checks behind the API's back. */
  client: TandemClient;
  /** http://127.0.0.1:PORT */
  base: string;
  datanodes: WebHdfsDatanode[];
  app: FastifyInstance;
}

/** The live datanodes' HTTP addresses, as registered in ZooKeeper. */
export async function liveDatanodes(cluster: DataCluster): Promise<WebHdfsDatanode[]> {
  const session = await cluster.coordinator();
  const ids = (await session.children(DATANODES_PATH)).sort();
  const found: WebHdfsDatanode[] = [];
  for (const id of ids) {
    const node = await session.get<{ http: string }>(`${DATANODES_PATH}/${id}`);
    if (node?.data.http) found.push({ id, http: node.data.http });
  }
  return found;
}

/** A cluster and a gateway for a whole test file; `ready` receives them once both serve. */
export function useWebHdfsGateway(options: DataClusterOptions, ready: (gateway: Gateway) => void): void {
  let cluster: DataCluster | null = null;
  let client: TandemClient | null = null;
  let app: FastifyInstance | null = null;
  let users: UserClients | null = null;
  // One hook for the cluster and the gateway: the gateway needs the cluster's datanodes.
  before(async () => {
    cluster = await DataCluster.start(options);
    client = cluster.client();
    await cluster.waitForLiveDatanodes();
    const datanodes = await liveDatanodes(cluster);
    const started = cluster;
    users = new UserClients({ make: (user) => started.client(user), usersMax: 8 });
    app = Fastify({ logger: false, frameworkErrors: webHdfsFrameworkErrors });
    registerWebHdfs(app, { clientFor: users.clientFor, datanodes: () => datanodes });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('the gateway has no TCP address');
    ready({ cluster, client, base: `http://127.0.0.1:${address.port}`, datanodes, app });
  });
  after(async () => {
    await app?.close();
    users?.close();
    client?.close();
    await cluster?.stop();
  });
}
