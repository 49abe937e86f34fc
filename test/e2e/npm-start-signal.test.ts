import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
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

/**
 * The gateway's environment, on this file's database and Redis prefix. PORT=0: the system picks the
 * port as it binds (the log names it), where a port found free beforehand can be taken meanwhile by any
 * connection the other test files open, and the gateway would then not start.
 */
const gatewayEnv = () => ({
  ...process.env,
  NODE_ENV: 'test',
  PORT: '0',
  HOST: '127.0.0.1',
  DATABASE_URL: env.config.DATABASE_URL,
  REDIS_URL: env.config.REDIS_URL,
  REDIS_PREFIX: env.config.REDIS_PREFIX,
  JWT_SECRET: env.config.JWT_SECRET,
  LOG_LEVEL: 'info',
});

const answers = async (url: string) =>
  (await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => null))?.ok === true;

/** A started gateway's log, kept whole and shown if the test fails (a stop that hangs says where). */
function collectLog(child: ChildProcess): { text: () => string } {
  let log = '';
  const add = (b: Buffer) => {
    log += b.toString();
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  onTestFailed(() => console.error(`the gateway's log:\n${log}`));
  return { text: () => log };
}

/** The healthz URL of the gateway once its log says it listens (on the port the system gave it). */
async function listeningAt(log: { text: () => string }): Promise<string> {
  const port = await waitFor(
    'gateway listening',
    () => /"port":(\d+),[^\n]*"msg":"gateway listening"/.exec(log.text())?.[1],
    60_000,
  );
  const health = `http://127.0.0.1:${port}/healthz`;
  await waitFor('healthz answering', () => answers(health));
  return health;
}

/** Once `child` has exited (at once if it has); past `ms` a named failure, not the test's own timeout. */
function exitOf(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const late = setTimeout(() => reject(new Error(`the process did not exit within ${ms} ms`)), ms);
    child.once('exit', (code) => {
      clearTimeout(late);
      resolve(code);
    });
  });
}

/** The gateway run from source, in its own process group (killGroup ends whatever it leaves). */
const spawnGateway = (): ChildProcess =>
  spawn('node', ['--import', 'tsx', 'scripts/start.ts'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: gatewayEnv(),
  });

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

describe('npm start', () => {
  // Start-up is given a minute (it builds the bundle first) on a machine loaded by the other files.
  it('stops the gateway, drained, when npm is sent SIGTERM', { timeout: 120_000 }, async () => {
    // Its own process group, so whatever it leaves behind can be killed at the end.
    const npm: ChildProcess = spawn('npm', ['start'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: gatewayEnv(),
    });
    const log = collectLog(npm);
    try {
      const health = await listeningAt(log);
      npm.kill('SIGTERM');
      await exitOf(npm, 30_000);
      await waitFor('gateway stopped', async () => !(await answers(health)), 20_000);
      expect(log.text()).toContain(
        '"msg":"shutting down: finishing the work in flight; send the signal again to stop at once"',
      );
      // And the last line says it is done (what an operator watching a restart waits for).
      await waitFor('the stopped line', () =>
        /"signal":"SIGTERM","exitCode":0,"msg":"stopped"/.test(log.text()),
      );
    } finally {
      killGroup(npm);
    }
  });

  it('drains on a signal that arrives twice at once, as Ctrl-C on npm start delivers it', {
    timeout: 120_000,
  }, async () => {
    // A terminal's Ctrl-C (or systemd's SIGTERM) goes to the whole process group and npm forwards
    // its own copy besides: the gateway hears it twice, milliseconds apart (newcomer32: 3–6 ms).
    // Whether the two arrive apart or merge into one pending signal is the kernel's timing, so the
    // gateway itself is sent two, 5 ms apart.
    const gateway = spawnGateway();
    const log = collectLog(gateway);
    try {
      await listeningAt(log);
      gateway.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 5));
      gateway.kill('SIGINT');
      expect(await exitOf(gateway, 30_000)).toBe(0);
      expect(log.text()).toMatch(/"signal":"SIGINT","exitCode":0,"msg":"stopped"/);
      expect(log.text()).not.toContain('second signal');
      expect(log.text()).toContain('the same signal again at once');
    } finally {
      killGroup(gateway);
    }
  });

  it('stops at once, without draining, on a second signal', { timeout: 120_000 }, async () => {
    const gateway = spawnGateway();
    const log = collectLog(gateway);
    try {
      const health = await listeningAt(log);
      // A request whose body has not all come: the drain waits for it, so the gateway is still
      // draining when the second signal comes.
      const { port } = new URL(health);
      const socket = connect(Number(port), '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.write(
        'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"em',
      );
      gateway.kill('SIGINT');
      await waitFor('draining', async () => log.text().includes('send the signal again to stop at once'));
      // Past the time within which a signal again is the first one delivered twice.
      await new Promise((r) => setTimeout(r, 700));
      gateway.kill('SIGINT');
      expect(await exitOf(gateway, 10_000)).toBe(130);
      expect(log.text()).toContain('"msg":"second signal: stopping now, without draining"');
      socket.destroy();
    } finally {
      killGroup(gateway);
    }
  });
});
