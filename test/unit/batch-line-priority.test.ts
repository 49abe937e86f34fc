import { describe, expect, it } from 'vitest';
import {
  BATCH_LANE_PRIORITY,
  batchLinePriority,
  retryPriority,
} from '../../shared/jobs/enqueue-inference.js';

describe('batch lane priorities', () => {
  it('ranks an account one step further back for each batch it runs beyond its first', () => {
    expect(batchLinePriority(1)).toBe(BATCH_LANE_PRIORITY);
    expect(batchLinePriority(0)).toBe(BATCH_LANE_PRIORITY); // (finished meanwhile)
    expect(batchLinePriority(2)).toBe(BATCH_LANE_PRIORITY + 1);
    expect(batchLinePriority(50)).toBe(BATCH_LANE_PRIORITY + 49);
  });

  it('stops at the last rank, well inside what BullMQ accepts', () => {
    expect(batchLinePriority(1000)).toBe(batchLinePriority(1_000_000));
    expect(batchLinePriority(1_000_000)).toBeLessThan(2 ** 21);
  });

  it('retries an async job first and a batch line at the lane’s first rank', () => {
    expect(retryPriority({ batch_id: null })).toBe(0);
    expect(retryPriority({ batch_id: 'batch_x' })).toBe(BATCH_LANE_PRIORITY);
  });
});
