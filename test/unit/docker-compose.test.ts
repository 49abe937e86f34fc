import { describe, expect, it } from 'vitest';
import { composeServices } from '../helpers/compose.js';

// docker-compose.yml is the production layout docs/operations.md points to (ops31).
describe('docker-compose.yml', () => {
  const services = composeServices();
  const roles = ['api', 'workers', 'scheduler'] as const;

  it('gives every role the settings of an optional .env, beside what it sets itself', () => {
    for (const role of roles) {
      expect(services[role]?.env_file, role).toEqual([{ path: '.env', required: false }]);
      expect(services[role]?.environment, role).toMatchObject({ DATABASE_URL: expect.any(String) });
    }
  });

  it('brings the stores back after a crash or a reboot, as it does the roles, and starts the roles once they answer', () => {
    for (const name of ['postgres', 'redis', ...roles])
      expect(services[name]?.restart, name).toBe('unless-stopped');
    for (const role of roles)
      expect(services[role]?.depends_on, role).toMatchObject({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
      });
    expect(services.redis?.healthcheck).toBeDefined();
  });
});
