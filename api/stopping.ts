import { setMaxListeners } from 'node:events';
import { ApiError } from '../shared/errors.js';

/** A node call stopped because the api is shutting down (stopNodeCalls). */
export class ServerStopping extends Error {}

const stopping = new AbortController();
// Every sync call in flight listens to it (one listener each, removed when the call ends): Node's
// default of 10 would print a leak warning under any load.
setMaxListeners(0, stopping.signal);

/**
 * Aborted when the api, shutting down, stops the node calls it is still waiting on: passed as the
 * signal of every sync node call (one listener each, no controller per request).
 */
export const apiStopping: AbortSignal = stopping.signal;

/** Streams open in this process (stopNodeCalls says how many it ended). */
let openStreams = 0;

/**
 * A stream's node call, `abort`ed with a ServerStopping reason when the api stops them (at once if
 * it already has). Returns the release to call once, when the stream ends.
 */
export function stoppableStream(abort: AbortController): () => void {
  const stop = () => abort.abort(apiStopping.reason);
  apiStopping.addEventListener('abort', stop, { once: true });
  if (apiStopping.aborted) stop();
  openStreams++;
  return () => {
    apiStopping.removeEventListener('abort', stop);
    openStreams--;
  };
}

/**
 * Stop every node call still running in this process (the api's shutdown, after
 * SHUTDOWN_STREAM_DRAIN_MS): each answers its client with stoppingError and is billed for what was
 * sent (a stream) or nothing (a call that never answered). Returns how many streams were open.
 */
export function stopNodeCalls(): number {
  const streams = openStreams;
  stopping.abort(new ServerStopping());
  return streams;
}

/** What a client stopped by the shutdown is told: retry (another replica, or this one restarted). */
export const stoppingError = (what: 'stream' | 'request') =>
  new ApiError(
    'service_unavailable',
    `The server is restarting and stopped this ${what}; retry the request`,
    {},
    {
      'retry-after': '1',
    },
  );
