import { GonkaStreamError } from './errors.js';
import { AttemptTimeoutError, type Verdict } from './failover.js';
import { isAnswerChunk, isContentChunk, readUsage } from './forced-fields.js';
import type { TokenUsage } from './protocol.js';
import { sseData } from './sse.js';
import type { NodeResponse } from './transport.js';

type Chunk = Record<string, unknown>;

export interface ChatStream {
  /** Base URL of the node that is streaming. */
  node: string;
  /**
   * Parsed `chat.completion.chunk` objects, `[DONE]` excluded; the usage-only chunk is yielded too.
   * Single use. Throws GonkaStreamError when the stream breaks, or the caller's abort reason.
   * Leaving the loop early closes the upstream connection.
   */
  chunks: AsyncIterable<Chunk>;
  /** The node's usage once its usage chunk arrived; null if the stream broke before it. */
  usage(): TokenUsage | null;
  /** Chunks of generated tokens seen so far: the completion tokens to bill when usage() is null (see isContentChunk). */
  contentChunks(): number;
  /** Stop now and close the upstream connection (the client went away before iterating). */
  cancel(): void;
}

/** A stream being opened: read ahead until the node is answering, before anyone is answered. */
export interface OpeningChatStream extends ChatStream {
  /**
   * Reads (and keeps, for `chunks`) the chunks before the first that shows the node answering
   * (isAnswerChunk: text, a tool call, reasoning, a finish), or to the end of a stream that has
   * none, or MAX_READ_AHEAD chunks. Rejects as `chunks` would if the stream breaks first: nothing
   * was generated, so another node may be asked.
   */
  untilAnswering(): Promise<void>;
}

/** Chunks kept back at most while waiting for the node's first answer (role-only chunks). */
const MAX_READ_AHEAD = 16;

export function openChatStream(args: {
  node: string;
  response: NodeResponse;
  controller: AbortController;
  /** Longest wait for the next chunk; counted only while waiting on the node. */
  idleTimeoutMs: number;
  callerSignal?: AbortSignal;
  /**
   * Called once when the stream ends: 'ok' at the node's end, 'failed' when the node broke it,
   * 'none' when the caller stopped it (the node is not to blame).
   */
  onEnd(v: Verdict): void;
}): OpeningChatStream {
  const { response, controller } = args;
  let usage: TokenUsage | null = null;
  let content = 0;
  let waiting = false;
  let stalled = false;
  // One timer re-armed per read (refresh() is cheap); it only fires while a read is outstanding.
  const idle = setTimeout(() => {
    if (!waiting) return;
    stalled = true;
    controller.abort();
  }, args.idleTimeoutMs);
  idle.unref();

  async function* iterate(): AsyncGenerator<Chunk> {
    let done = false; // [DONE] came: the answer is whole
    let finished = false; // a finish_reason came
    // Whole but for its [DONE]: the node (or a proxy in front of it) closed or cut the connection
    // after the finish and the usage chunk. The client has every token and the bill is known, so
    // the answer ends as usual instead of as a break (which the openai SDK throws on).
    const answered = () => finished && usage !== null;
    let verdict: Verdict = 'none'; // a caller that stops reading early says nothing of the node
    const it = sseData(response.body)[Symbol.asyncIterator]();
    try {
      for (;;) {
        waiting = true;
        idle.refresh();
        const next = await it.next();
        waiting = false;
        if (next.done) break; // a cut connection throws instead (NodeResponse.body)
        // The answer is whole: the caller has it now; the body's end is awaited apart (below).
        if (next.value === '[DONE]') {
          done = true;
          break;
        }
        let chunk: Chunk;
        try {
          chunk = JSON.parse(next.value) as Chunk;
        } catch (cause) {
          throw new GonkaStreamError(`${args.node} sent a line that is not JSON`, args.node, { cause });
        }
        // An error event in the stream (vLLM sends `data: {"error": …}`) ends it as a break: its
        // text names the node's internals, so the client gets the gateway's own error event.
        if ((chunk as { error?: unknown }).error !== undefined)
          throw new GonkaStreamError(
            `${args.node} sent an error event: ${next.value.slice(0, 300)}`,
            args.node,
          );
        const u = chunk.usage === undefined ? null : readUsage(chunk.usage);
        if (u) usage = u;
        if (isContentChunk(chunk)) content++;
        if (!finished) finished = hasFinish(chunk);
        yield chunk;
      }
      if (!done && !answered())
        throw new GonkaStreamError(`${args.node} ended the stream before [DONE]`, args.node);
      verdict = 'ok';
    } catch (err) {
      if (args.callerSignal?.aborted && !stalled) throw args.callerSignal.reason;
      if (answered()) {
        verdict = 'ok';
        return;
      }
      verdict = 'failed';
      if (err instanceof GonkaStreamError) throw err;
      const what = stalled ? `sent no chunk in ${args.idleTimeoutMs} ms` : 'cut the stream';
      const timedOut = stalled || err instanceof AttemptTimeoutError;
      throw new GonkaStreamError(`${args.node} ${what}`, args.node, { cause: err, timedOut });
    } finally {
      waiting = false;
      clearTimeout(idle);
      const drop = () => {
        controller.abort();
        response.destroy();
      };
      // Whole: the body's end usually follows at once, and a fully read body lets the socket be
      // reused; a node holding the response open is dropped after a moment. Otherwise (the caller
      // left early, the stream broke) the socket is closed now.
      if (done) drainBriefly(it, drop);
      else drop();
      args.onEnd(verdict);
    }
  }

  const gen = iterate();
  const ahead: Chunk[] = []; // read by untilAnswering, not yet taken from `chunks`
  let ended = false;
  async function* chunks(): AsyncGenerator<Chunk> {
    try {
      for (let c = ahead.shift(); c; c = ahead.shift()) yield c;
      if (!ended) yield* gen;
    } finally {
      // Left while handing out what was read ahead: `gen` is suspended and holds the connection.
      if (!ended) await gen.return(undefined);
    }
  }
  return {
    node: args.node,
    chunks: chunks(),
    usage: () => usage,
    contentChunks: () => content,
    async untilAnswering() {
      while (ahead.length < MAX_READ_AHEAD) {
        const next = await gen.next();
        if (next.done) {
          ended = true;
          return;
        }
        ahead.push(next.value);
        if (isAnswerChunk(next.value)) return;
      }
    },
    cancel() {
      clearTimeout(idle);
      controller.abort();
      response.destroy();
      void gen.return(undefined);
    },
  };
}

function hasFinish(chunk: Chunk): boolean {
  const choices = chunk.choices;
  return Array.isArray(choices) && choices.some((c) => typeof c?.finish_reason === 'string');
}

/** How long a whole answer's body may take to end before its connection is dropped. */
const DRAIN_MS = 1_000;

/** Read what is left of a body in the background; `drop` the connection if it has not ended in DRAIN_MS. */
function drainBriefly(it: AsyncIterator<string>, drop: () => void): void {
  const timer = setTimeout(drop, DRAIN_MS);
  timer.unref();
  (async () => {
    for (let n = await it.next(); !n.done; n = await it.next());
  })().then(
    () => clearTimeout(timer),
    () => {
      clearTimeout(timer);
      drop();
    },
  );
}
