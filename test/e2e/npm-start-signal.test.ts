import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, get as httpGet } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/bench/processes.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { waitFor } from '../helpers/wait.js';

// `npm start` as the README runs it (and as a container whose command it is): a SIGTERM is sent to
// npm's pid alone, which npm forwards to the script's process. That must be the gateway itself, or
// the gateway never hears it: npm and its shell go, and the gateway runs on without them, undrained.
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});

/** The gateway's environment on `port`, on this file's database and Redis prefix. */
const gatewayEnv = (port: number) => ({
  ...process.env,
  NODE_ENV: 'test',
  PORT: String(port),
  HOST: '127.0.0.1',
  DATABASE_URL: env.config.DATABASE_URL,
  REDIS_URL: env.config.REDIS_URL,
  REDIS_PREFIX: env.config.REDIS_PREFIX,
  JWT_SECRET: env.config.JWT_SECRET,
  LOG_LEVEL: 'info',
});

const answers = async (url: string) => (await fetch(url).catch(() => null))?.ok === true;

describe('npm start', () => {
  it('stops the gateway, drained, when npm is sent SIGTERM', async () => {
    const port = await freePort();
    let log = '';
    // Its own process group, so whatever it leaves behind can be killed at the end.
    const npm: ChildProcess = spawn('npm', ['start'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: gatewayEnv(port),
    });
    npm.stdout?.on('data', (b: Buffer) => {
      log += b.toString();
    });
    npm.stderr?.on('data', (b: Buffer) => {
      log += b.toString();
    });
    const npmExited = new Promise<void>((r) => npm.once('exit', () => r()));
    const health = `http://127.0.0.1:${port}/healthz`;
    try {
      await waitFor('gateway listening', () => answers(health), 60_000);
      npm.kill('SIGTERM');
      await npmExited;
      await waitFor('gateway stopped', async () => !(await answers(health)), 20_000);
      expect(log).toContain(
        '"msg":"shutting down: finishing the work in flight; send the signal again to stop at once"',
      );
      // And the last line says it is done (what an operator watching a restart waits for).
      await waitFor('the stopped line', () => /"signal":"SIGTERM","exitCode":0,"msg":"stopped"/.test(log));
    } finally {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
  });

  it('stops at once, without draining, on a second signal', async () => {
    const port = await freePort();
    let log = '';
    const gateway: ChildProcess = spawn('node', ['--import', 'tsx', 'scripts/start.ts'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: gatewayEnv(port),
    });
    gateway.stdout?.on('data', (b: Buffer) => {
      log += b.toString();
    });
    const exited = new Promise<number | null>((r) => gateway.once('exit', (code) => r(code)));
    try {
      await waitFor('gateway listening', () => answers(`http://127.0.0.1:${port}/healthz`), 60_000);
      // A kept-alive connection: the drain leaves it a second to bring its next request, so the
      // gateway is still draining when the second signal comes.
      const agent = new Agent({ keepAlive: true });
      await new Promise<void>((resolve, reject) =>
        httpGet(`http://127.0.0.1:${port}/healthz`, { agent }, (res) => res.resume().on('end', resolve)).on(
          'error',
          reject,
        ),
      );
      gateway.kill('SIGINT');
      await waitFor('draining', async () => log.includes('send the signal again to stop at once'));
      gateway.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(log).toContain('send the signal again to stop at once');
      expect(log).toContain('"msg":"second signal: stopping now, without draining"');
      agent.destroy();
    } finally {
      try {
        process.kill(-gateway.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
  });
});
