import { describe, expect, it } from 'vitest';
import { apiStopping } from '../../api/stopping.js';

describe('apiStopping', () => {
  it('takes a listener per call in flight, hundreds at once, without a leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const listeners = Array.from({ length: 200 }, () => () => {});
    try {
      for (const l of listeners) apiStopping.addEventListener('abort', l, { once: true });
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      for (const l of listeners) apiStopping.removeEventListener('abort', l);
      process.off('warning', onWarning);
    }
  });
});
