import { setMaxListeners } from 'node:events';
import type { ServerResponse } from 'node:http';
import { ApiError } from '../shared/errors.js';

/** A node call stopped because the api is shutting down (stopNodeCalls). */
export class ServerStopping extends Error {}

const stopping = new AbortController();
// Every sync call in flight listens to it (one listener each, removed when the call ends): Node's
// default of 10 would print a leak warning under any load.
setMaxListeners(0, stopping.signal);

/**
 * Aborted when the api, shutting down, stops the node calls it is still waiting on: every node
 * call listens to it (syncCallSignal, stoppableStream).
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

/** A sync node call stopped because its client went away: there is no one to answer. */
export class ClientGone extends Error {}

/**
 * The signal of a sync (non-stream) node call: aborted when its client goes (the answer would
 * reach no one: the work is not billed, and an SDK's retry of a call it gave up on is not billed
 * twice) or when the api stops its node calls (with a ServerStopping reason). `done` releases it
 * once the call ends.
 */
export function syncCallSignal(res: ServerResponse): { signal: AbortSignal; done: () => void } {
  const abort = new AbortController();
  const stop = () => abort.abort(apiStopping.reason);
  const gone = () => {
    if (!res.writableFinished) abort.abort(new ClientGone());
  };
  apiStopping.addEventListener('abort', stop, { once: true });
  res.once('close', gone);
  if (apiStopping.aborted) stop();
  // A client that hung up during admission closed before the listener was there.
  else if (res.destroyed || (res.socket ?? res.req?.socket)?.destroyed) gone();
  return {
    signal: abort.signal,
    done: () => {
      apiStopping.removeEventListener('abort', stop);
      res.off('close', gone);
    },
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
