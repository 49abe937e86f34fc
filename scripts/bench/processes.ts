import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Child processes of a benchmark run: every one is killed when the run ends, however it ends
 * (normal exit, an error, Ctrl-C), so no simulator or gateway is left listening.
 */
const children = new Set<ChildProcess>();

function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

export interface Child {
  name: string;
  pid: number;
  /** Everything it printed so far (stdout and stderr), for error messages. */
  output(): string;
  /** Resolves with the first stdout line that matches. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function startChild(name: string, args: string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let out = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > 200_000) out = out.slice(-100_000);
    for (const w of [...waiters]) {
      const m = w.re.exec(out);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  if (proc.pid === undefined) throw new Error(`${name} did not start`);
  return {
    name,
    pid: proc.pid,
    output: () => out,
    waitForLine(re, timeoutMs = 30_000) {
      const m = re.exec(out);
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name}: no line matching ${re} in ${timeoutMs} ms:\n${out.slice(-3000)}`)),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${proc.exitCode}):\n${out.slice(-3000)}`));
        });
      });
    },
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      children.delete(proc);
    },
  };
}

/**
 * A port nobody listens on right now, on loopback, from below the system's ephemeral range. A port
 * the system hands out (listen on 0) and takes back is next in line for any outgoing connection (a
 * Postgres or Redis client of a test running beside) before the process it was found for binds it,
 * which then cannot start (a CI run lost a test so); ports below the range are never handed out so.
 */
export async function freePort(): Promise<number> {
  // A range starting this low leaves nothing below it: any port, checked, as before.
  const below = ephemeralLow() ?? 65_536;
  for (;;) {
    const port = FREE_PORT_LOW + randomInt(below - FREE_PORT_LOW);
    if (await bindable(port)) return port;
  }
}

/** Clear of the well-known ports a developer's machine listens on (Postgres, Redis, 8080…). */
const FREE_PORT_LOW = 10_000;

/** The first port of the system's ephemeral range, when it leaves room below it (Linux; null elsewhere). */
function ephemeralLow(): number | null {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
    if (low > FREE_PORT_LOW + 1000) return low;
  } catch {
    // not Linux
  }
  return null;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Polls `url` until it answers at all (any status). */
export async function waitForHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${url} did not answer in ${timeoutMs} ms`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Resident set size of a process, in MB, from /proc (no `ps` per sample: samplers run often). */
export function rssMb(pid: number): number {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return 0; // the process ended
  }
}

/** Run a benchmark's `main`, then `cleanup` however it ended; an error is printed and exits 1. */
export async function runBench(main: () => Promise<void>, cleanup: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  } finally {
    await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}
