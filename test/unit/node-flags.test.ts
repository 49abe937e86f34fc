import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GATEWAY_NODE_FLAGS } from '../../scripts/node-flags.js';

// The benchmarks measure the gateway under GATEWAY_NODE_FLAGS; a way of starting it that left them
// out would run a different (slower) gateway than the one measured.
describe('the gateway runs under the same node flags wherever it starts', () => {
  it('in every npm start script', () => {
    const { scripts } = JSON.parse(readFileSync('package.json', 'utf8')) as {
      scripts: Record<string, string>;
    };
    const starts = Object.entries(scripts).filter(([name]) => name === 'start' || name.startsWith('start:'));
    expect(starts.length).toBeGreaterThanOrEqual(4);
    for (const [name, command] of starts)
      expect({ name, command }).toEqual({
        name,
        command: expect.stringContaining(`exec node ${GATEWAY_NODE_FLAGS.join(' ')} dist/start.mjs`),
      });
  });

  it('in every docker-compose role', () => {
    const commands = readFileSync('docker-compose.yml', 'utf8')
      .split('\n')
      .filter((line) => line.includes('dist/start.mjs'));
    expect(commands).toHaveLength(3); // api, workers, scheduler
    const flags = GATEWAY_NODE_FLAGS.map((f) => `"${f}"`).join(', ');
    for (const line of commands) expect(line).toContain(`["node", ${flags}, "dist/start.mjs"`);
  });
});
