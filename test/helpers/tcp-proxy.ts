// A TCP proxy on loopback that a test can break between one client and its server while
// both processes keep running:
// - cut(): a partition that resets: every open connection is closed, and new ones are
//   accepted and closed at once.
// - stall(): a partition that stays silent (packets dropped, nothing reset, or a hung
//   server): connections stay open but nothing passes; new ones are accepted and held.
// - restore(): the network heals. Stalled connections flow again, and those accepted
//   while stalled are connected to the target then.
import net from 'node:net';
import { once } from 'node:events';

export interface TcpProxy {
  /** `127.0.0.1:<port>` to connect to instead of the target. */
  readonly address: string;
  /** Connections accepted while stalled (each a client's attempt that got no answer). */
  readonly acceptedWhileStalled: number;
  cut(): void;
  stall(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Client connections a proxy keeps open; more are refused (a test never needs many). */
const CONNECTIONS_MAX = 64;

type Mode = 'open' | 'cut' | 'stalled';

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let mode: Mode = 'open';
  let acceptedWhileStalled = 0;
  /** Every client-side socket, with its upstream once connected. */
  const pairs = new Map<net.Socket, net.Socket | null>();

  const join = (downstream: net.Socket) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    pairs.set(downstream, upstream);
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    upstream.on('error', () => downstream.destroy());
    upstream.on('close', () => downstream.destroy());
    downstream.resume();
  };

  const server = net.createServer((downstream) => {
    if (mode === 'cut' || pairs.size >= CONNECTIONS_MAX) {
      downstream.destroy();
      return;
    }
    downstream.pause();
    downstream.on('error', () => downstream.destroy());
    downstream.on('close', () => {
      pairs.get(downstream)?.destroy();
      pairs.delete(downstream);
    });
    pairs.set(downstream, null);
    if (mode === 'stalled') acceptedWhileStalled++;
    else join(downstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;

  const closeAll = () => {
    for (const downstream of pairs.keys()) downstream.destroy();
  };
  return {
    address: `127.0.0.1:${port}`,
    get acceptedWhileStalled() {
      return acceptedWhileStalled;
    },
    cut() {
      mode = 'cut';
      closeAll();
    },
    stall() {
      mode = 'stalled';
      acceptedWhileStalled = 0;
      for (const [downstream, upstream] of pairs) {
        // Unpiped and paused, nothing passes either way; TCP buffers what was sent.
        downstream.unpipe();
        upstream?.unpipe();
        downstream.pause();
        upstream?.pause();
      }
    },
    restore() {
      const wasStalled = mode === 'stalled';
      mode = 'open';
      if (!wasStalled) return;
      for (const [downstream, upstream] of pairs) {
        if (!upstream) {
          join(downstream);
          continue;
        }
        downstream.pipe(upstream);
        upstream.pipe(downstream);
      }
    },
    async close() {
      mode = 'cut';
      closeAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
