import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * Lower this process's scheduling priority to niceness `nice` (never raise it: that needs
 * privileges, and a process started lower stays as it was started). Linux keeps a niceness per
 * thread, and threads inherit it only when they start: each thread already running is set (the
 * event loop, and V8's and libuv's helpers, which do its garbage collection and file work), so
 * everything the process does yields. Returns the event loop's niceness now, or null when it was
 * not changed.
 */
export function runBelowApi(nice: number): number | null {
  if (nice <= getPriority()) return null;
  for (const tid of threadIds()) {
    try {
      if (getPriority(tid) < nice) setPriority(tid, nice);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return getPriority();
}

/** The process's threads; without /proc, only the calling one (0: "this thread" to setPriority). */
function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return [0];
  }
}
