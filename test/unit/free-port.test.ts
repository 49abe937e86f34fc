import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/bench/processes.js';

const RANGE = '/proc/sys/net/ipv4/ip_local_port_range';

describe('freePort', () => {
  // Linux says where its ephemeral range starts; elsewhere there is nothing to hold it to.
  it.skipIf(!existsSync(RANGE))(
    'finds ports below the ephemeral range (never handed to a connection meanwhile) that bind',
    async () => {
      const ephemeralLow = Number(readFileSync(RANGE, 'utf8').split(/\s+/)[0]);
      for (let i = 0; i < 20; i++) {
        const port = await freePort();
        expect(port).toBeGreaterThanOrEqual(10_000);
        expect(port).toBeLessThan(ephemeralLow);
        const server = createServer();
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', resolve);
        });
        await new Promise((r) => server.close(r));
      }
    },
  );
});
