import { Redis } from 'ioredis';

export type { Redis };

/**
 * One ioredis connection for commands. BullMQ workers need their own blocking connections
 * (`maxRetriesPerRequest: null`), made by the queue module.
 */
export function createRedis(url: string, opts: { blocking?: boolean } = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: opts.blocking ? null : 3,
    enableAutoPipelining: !opts.blocking,
    lazyConnect: false,
  });
}
