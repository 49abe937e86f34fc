import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of groups of processes, from /proc (Linux): where a request's cost lands when the
 * gateway, Postgres, Redis, the simulator and the load generator share the machine.
 */
export type ProcessGroup = () => number[];

const TICKS_PER_S = 100; // USER_HZ, 100 on every Linux build that matters here

function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): utime is 14th, stime 15th overall.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICKS_PER_S;
  } catch {
    return 0; // the process ended
  }
}

/**
 * Every process whose command line matches: Postgres names each backend's database in it
 * (`postgres: user db host(port) state`), so one database's backends can be told apart.
 */
export function byCommandLine(re: RegExp): ProcessGroup {
  return () =>
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => {
        try {
          return re.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
        } catch {
          return false;
        }
      });
}

export type CpuSnapshot = Map<string, Map<number, number>>;

export function snapshotCpu(groups: Record<string, ProcessGroup>): CpuSnapshot {
  return new Map(
    Object.entries(groups).map(([name, pids]) => [name, new Map(pids().map((p) => [p, cpuMs(p)]))]),
  );
}

/** CPU ms each group used between two snapshots (processes born in between count from zero). */
export function cpuUsed(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, now] of after) {
    let ms = 0;
    for (const [pid, t] of now) ms += t - (before.get(name)?.get(pid) ?? 0);
    out[name] = ms;
  }
  return out;
}

/** A thread's time on a CPU and waiting in a run queue for one, in ns (schedstat), and when read. */
export interface ThreadTimes {
  runNs: number;
  waitNs: number;
  atNs: bigint;
}

/**
 * The main thread's schedstat (Linux): the event loop of a Node process. Its time waiting for a
 * CPU while runnable is throughput lost to the other processes on the machine, which its own CPU
 * time per request does not show.
 */
export function mainThreadTimes(pid: number): ThreadTimes | null {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ');
    return { runNs: Number(run), waitNs: Number(wait), atNs: process.hrtime.bigint() };
  } catch {
    return null; // the process ended, or no schedstat here
  }
}

/** Share of the wall time between two readings the thread ran, and waited runnable for a CPU (%). */
export function threadShare(
  a: ThreadTimes | null,
  b: ThreadTimes | null,
): { runPct: number; waitPct: number } | null {
  if (!a || !b) return null;
  const wallNs = Number(b.atNs - a.atNs);
  if (wallNs <= 0) return null;
  return { runPct: (100 * (b.runNs - a.runNs)) / wallNs, waitPct: (100 * (b.waitNs - a.waitNs)) / wallNs };
}

function cpuTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** How busy the whole machine is over `ms`, in percent: other work skews every figure. */
export async function machineBusyPercent(ms = 1000): Promise<number> {
  const a = cpuTicks();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTicks();
  return Math.round((100 * (b.busy - a.busy)) / Math.max(b.total - a.total, 1));
}
