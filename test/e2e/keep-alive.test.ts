import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { useTestStack } from '../helpers/stack.js';

/** KEEP_ALIVE_TIMEOUT_MS: how long an idle client connection stays open for its next request. */
const stack = useTestStack({ env: { KEEP_ALIVE_TIMEOUT_MS: '1500' }, workers: false });

/** One GET /healthz on a raw connection (no client-side keep-alive policy in the way): its status. */
function healthz(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text);
      if (head < 0 || !length || text.length < head + 4 + Number(length[1])) return;
      socket.off('data', onData);
      resolve(Number(text.split(' ')[1]));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write('GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n');
  });
}

describe('KEEP_ALIVE_TIMEOUT_MS', () => {
  it('is longer than a load balancer keeps its connections (60 s) unless set', () => {
    expect(loadConfig({}).KEEP_ALIVE_TIMEOUT_MS).toBe(65_000);
  });

  it('keeps an idle connection for the next request until it passes, then closes it', async () => {
    const url = new URL(stack.server.url);
    const socket = connect(Number(url.port), url.hostname);
    try {
      const ended = new Promise<number>((resolve) => socket.once('end', () => resolve(Date.now())));
      expect(await healthz(socket)).toBe(200);
      // Idle for 600 ms: the same connection carries the next request.
      await sleep(600);
      expect(await healthz(socket)).toBe(200);
      const idleSince = Date.now();
      // Idle past it: the api ends the connection (Node's own 5 s would still hold it at 4 s).
      const at = await Promise.race([ended, sleep(4_000).then(() => null)]);
      expect(at).not.toBeNull();
      expect(at! - idleSince).toBeGreaterThanOrEqual(1_000);
    } finally {
      socket.destroy();
    }
  });
});
