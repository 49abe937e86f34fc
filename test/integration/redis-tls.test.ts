import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/bench/processes.js';
import { redisOptionsFromUrl } from '../../shared/redis/client.js';
import { waitFor } from '../helpers/wait.js';

/**
 * REDIS_URL=rediss://… (a managed Redis behind TLS): the queues' connections speak TLS too. They
 * are built from the URL apart from the command connection, and once dropped TLS, so every job
 * and settlement hand-off stalled while requests were still admitted. A Redis of its own here,
 * serving TLS only, with a certificate made for the test.
 */
let dir: string;
let redis: ChildProcess;
let port: number;
let ca: Buffer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  ca = readFileSync(cert);
  port = await freePort();
  redis = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--tls-cert-file',
      cert,
      '--tls-key-file',
      key,
      '--tls-ca-cert-file',
      cert,
      '--tls-auth-clients',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    { stdio: 'ignore' },
  );
  await waitFor('redis with TLS', async () => {
    try {
      execFileSync('redis-cli', ['--tls', '--cacert', cert, '-p', String(port), 'ping'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  });
});
afterAll(() => {
  redis?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('queues on a rediss:// URL', () => {
  it('connect over TLS: a job is added, run and its completion heard', async () => {
    const options = redisOptionsFromUrl(`rediss://localhost:${port}`);
    expect(options.tls).toEqual({ servername: 'localhost' });
    expect(redisOptionsFromUrl(`redis://localhost:${port}`).tls).toBeUndefined();
    // The test's own CA joins the TLS options the URL gave; without them the connection stays TCP.
    const connection = { ...options, ...(options.tls ? { tls: { ...options.tls, ca } } : {}) };
    const queue = new Queue('tls', { connection });
    // From the stream's start (this Redis is the test's own): QueueEvents is ready once connected,
    // which can be before its first read, and a job finished in between would go unheard.
    const events = new QueueEvents('tls', { connection, lastEventId: '0-0' });
    const worker = new Worker('tls', async (job) => `done ${job.data.n}`, { connection });
    try {
      await events.waitUntilReady();
      const job = await queue.add('t', { n: 7 });
      expect(await job.waitUntilFinished(events, 10_000)).toBe('done 7');
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
    }
  });
});
