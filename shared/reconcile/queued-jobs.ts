import type { Job } from 'bullmq';
import type { Queues } from '../queues.js';

const PAGE = 1000;

/** Every message of a queue still to run or running (not the finished ones), a page at a time. */
export async function* pendingMessages(queues: Queues, name: 'inference' | 'batches'): AsyncGenerator<Job> {
  const queue = queues.get(name);
  const states = ['wait', 'paused', 'prioritized', 'delayed', 'active', 'waiting-children'] as const;
  const total = await queue.getJobCountByTypes(...states);
  for (let start = 0; start < total; start += PAGE) {
    for (const job of await queue.getJobs([...states], start, start + PAGE - 1)) if (job) yield job;
  }
}
