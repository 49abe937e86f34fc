import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { followWorker } from '../../shared/redis/outage-log.js';
import { capturedLogger } from '../helpers/logs.js';

describe('a queue worker’s log', () => {
  it('says when a job stalled (its worker died) and runs again', () => {
    const { logger, lines } = capturedLogger();
    // A worker as followWorker sees one: its events, and a client that never connects here.
    const worker = Object.assign(new EventEmitter(), { client: new Promise<never>(() => {}) });
    followWorker(worker, logger, 'inference');
    worker.emit('stalled', '42', 'active');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        jobId: '42',
        queue: 'inference',
        was: 'active',
        msg: 'inference job stalled (its worker died?); it runs again',
      }),
    ]);
  });
});
