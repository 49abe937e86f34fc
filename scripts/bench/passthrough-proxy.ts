import { createServer } from 'node:http';
import { Agent } from 'undici';

/**
 * bench:chat's floor reference: the least a Node gateway can do per request on this machine. It
 * reads the JSON body, forwards it to one node with undici (the gateway's own HTTP client), parses
 * the answer and writes it back. No keys, limits, holds or books. Whatever fraction of its
 * throughput the gateway reaches is what its admission, holds and settlement leave of a bare
 * proxy; a Portkey multiple is only reachable below this ceiling.
 * `PROXY_UPSTREAM=http://… PROXY_PORT=… node --import tsx scripts/bench/passthrough-proxy.ts`
 */
const upstream = new URL(process.env.PROXY_UPSTREAM ?? 'http://127.0.0.1:9100');
const dispatcher = new Agent({ keepAliveTimeout: 4_000 });

const server = createServer(async (req, res) => {
  try {
    const parts: Buffer[] = [];
    for await (const chunk of req) parts.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
    const answer = await dispatcher.request({
      origin: upstream.origin,
      path: `${upstream.pathname.replace(/\/$/, '')}${req.url ?? '/'}`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const out = JSON.stringify(JSON.parse(await answer.body.text()));
    res.writeHead(answer.statusCode, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(out),
    });
    res.end(out);
  } catch (err) {
    res.writeHead(502).end(String(err));
  }
});
server.listen(Number(process.env.PROXY_PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  console.log(`passthrough proxy on http://127.0.0.1:${port}`);
});
