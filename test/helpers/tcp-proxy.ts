import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /** Drop every connection and refuse new ones, as a server that went down. */
  cut(): Promise<void>;
  /** Take connections again, on the same port. */
  restore(): Promise<void>;
  /** Stop passing bytes either way, connections left open: a network partition. */
  freeze(): void;
  /** Pass the bytes held back, and what follows. */
  thaw(): void;
  close(): Promise<void>;
}

/** A TCP pass-through to `target` on loopback, to take a service away from a client and give it back. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => {
        sockets.delete(s);
        pairs.delete(pair);
      });
    }
    client.pipe(upstream).pipe(client);
    if (frozen) for (const s of pair) s.pause();
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  await listen(0);
  const { port } = server.address() as AddressInfo;
  return {
    port,
    cut: stop,
    restore: () => listen(port),
    freeze() {
      frozen = true;
      for (const pair of pairs) for (const s of pair) s.pause();
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) for (const s of pair) s.resume();
    },
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}

/** The tests' Redis behind a proxy of its own: the proxy, and the REDIS_URL that goes through it. */
export async function redisBehindProxy(redisUrl: string): Promise<{ proxy: TcpProxy; url: string }> {
  const redis = new URL(redisUrl);
  const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
  redis.host = `127.0.0.1:${proxy.port}`;
  return { proxy, url: redis.toString() };
}
