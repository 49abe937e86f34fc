import type { Logger } from '../logger.js';
import { type ChatStream, openChatStream } from './chat-stream.js';
import type { NodeInfo } from './discovery.js';
import { GonkaUpstreamError, gatewayRefusal } from './errors.js';
import { type FailoverOptions, isRetryableStatus, type Verdict, withFailover } from './failover.js';
import { readUsage } from './forced-fields.js';
import type { NodePool } from './node-pool.js';
import { nodeRefusal } from './node-refusal.js';
import { CHAT_PATH, type TokenUsage } from './protocol.js';
import { addressFromPrivateKey, createNanoTimestamps, signRequest } from './signing.js';
import { type NodeResponse, post, readText } from './transport.js';

export type GonkaAuthMode = 'none' | 'bearer' | 'signed';

export interface GonkaClientOptions {
  pool: NodePool;
  mode: GonkaAuthMode;
  /** Required in bearer mode (a Gonka gateway or broker). */
  bearerToken?: string;
  /** Required in signed mode: hex secp256k1 key of the paying account. */
  privateKeyHex?: string;
  /** Nodes tried per request. @default 3 */
  maxAttempts?: number;
  /** Per attempt; for a stream, the wait for the first byte and then between chunks. @default 60_000 */
  timeoutMs?: number;
  /** All attempts of one request together. @default timeoutMs × maxAttempts: each attempt its full time */
  deadlineMs?: number;
  logger?: Logger;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides GonkaClientOptions.timeoutMs for this call. */
  timeoutMs?: number;
  /** Overrides GonkaClientOptions.deadlineMs for this call. */
  deadlineMs?: number;
  /**
   * Logs this call's failed nodes instead of the client's logger: a request's context, whose lines
   * carry its request id. @default the client's options
   */
  log?: { readonly logger?: Logger };
}

export interface ChatResult {
  completion: Record<string, unknown>;
  usage: TokenUsage;
  /** Base URL of the node that answered. */
  node: string;
}

type Body = Record<string, unknown>;

/**
 * Calls Gonka nodes for the gateway: picks a healthy node, authenticates (none, bearer or signed),
 * fails over on 429/5xx/connection errors/timeouts, and hands back usage for billing. Responses are
 * returned as the node sent them; stripping forced fields is the caller's job (stripForcedFields).
 */
export class GonkaClient {
  readonly requesterAddress: string | undefined;
  private readonly staticHeaders: Record<string, string>;
  private readonly nextTimestamp = createNanoTimestamps();

  constructor(private readonly opts: GonkaClientOptions) {
    const base = { 'content-type': 'application/json' };
    if (opts.mode === 'bearer') {
      if (!opts.bearerToken) throw new Error('GonkaClient: bearer mode needs bearerToken');
      this.staticHeaders = { ...base, authorization: `Bearer ${opts.bearerToken}` };
    } else {
      this.staticHeaders = base;
    }
    if (opts.mode === 'signed') {
      if (!opts.privateKeyHex) throw new Error('GonkaClient: signed mode needs privateKeyHex');
      this.requesterAddress = addressFromPrivateKey(opts.privateKeyHex);
    }
  }

  /** A non-streaming completion. `stream: true` in the body is overridden. */
  async chat(body: Body, opts: CallOptions = {}): Promise<ChatResult> {
    const text = JSON.stringify(body.stream === true ? { ...body, stream: false } : body);
    const served = await withFailover(this.failover(body, opts), async (node, signal) => {
      const raw = await readText(await this.post(node, text, signal));
      let completion: Body;
      try {
        completion = JSON.parse(raw) as Body;
      } catch {
        throw new GonkaUpstreamError(
          `${node.url} answered 200 with a body that is not JSON`,
          200,
          raw.slice(0, 500),
          true,
        );
      }
      const usage = readUsage(completion.usage);
      // The node did the work, so another node must not repeat it; without usage it cannot be billed.
      if (!usage) throw new GonkaUpstreamError(`${node.url} answered without usage`, 200, completion, false);
      return { completion, usage };
    });
    served.detach();
    return { ...served.value, node: served.node.url };
  }

  /**
   * A streaming completion. Resolves once a node's stream shows it answering (text, a tool call,
   * reasoning: OpeningChatStream.untilAnswering), so failover happens before any byte reaches the
   * client, also for a node that answers 200 and then breaks or stalls. The node's verdict for the pool is the stream's end: a node whose
   * streams break trips its breaker like one that refuses. Always asks the node for the usage chunk
   * (billing needs it).
   */
  async chatStream(body: Body, opts: CallOptions = {}): Promise<ChatStream> {
    const so = body.stream_options;
    const upstream = {
      ...body,
      stream: true,
      stream_options: { ...(so && typeof so === 'object' ? so : {}), include_usage: true },
    };
    const text = JSON.stringify(upstream);
    const served = await withFailover(
      { ...this.failover(body, opts), deferVerdict: true },
      async (node, signal, controller) => {
        const end = lateBound<Verdict>();
        const stream = openChatStream({
          node: node.url,
          response: await this.post(node, text, signal),
          controller,
          idleTimeoutMs: opts.timeoutMs ?? this.opts.timeoutMs ?? 60_000,
          callerSignal: opts.signal,
          onEnd: end.fire, // before it is served, an end is withFailover's to judge (the attempt threw)
        });
        await stream.untilAnswering();
        return { stream, end };
      },
    );
    served.value.end.bind((v) => {
      served.detach();
      served.verdict(v);
    });
    return served.value.stream;
  }

  private failover(body: Body, opts: CallOptions): FailoverOptions {
    const maxAttempts = this.opts.maxAttempts ?? 3;
    const attemptTimeoutMs = opts.timeoutMs ?? this.opts.timeoutMs ?? 60_000;
    return {
      pool: this.opts.pool,
      model: typeof body.model === 'string' ? body.model : undefined,
      maxAttempts,
      attemptTimeoutMs,
      deadlineMs: opts.deadlineMs ?? this.opts.deadlineMs ?? attemptTimeoutMs * maxAttempts,
      signal: opts.signal,
      log: opts.log ?? this.opts,
    };
  }

  /** One POST; resolves only on 2xx, else throws a GonkaUpstreamError saying whether to fail over. */
  private async post(node: NodeInfo, text: string, signal: AbortSignal): Promise<NodeResponse> {
    const res = await post(`${node.url}${CHAT_PATH}`, await this.headersFor(node, text), text, signal);
    const status = res.statusCode;
    if (status >= 200 && status < 300) return res;
    const raw = await readText(res).catch(() => '');
    const parsed = parseMaybeJson(raw);
    const message = nodeRefusal(parsed)?.message.slice(0, 500) ?? '';
    const refusal = gatewayRefusal(status, message);
    throw new GonkaUpstreamError(
      `${node.url} answered ${status}${message ? `: ${message}` : ''}`,
      status,
      parsed,
      refusal === 'signature' ||
        refusal === 'transfer-agent' ||
        refusal === 'node' ||
        isRetryableStatus(status),
      1,
      { refusal },
    );
  }

  private async headersFor(node: NodeInfo, text: string): Promise<Record<string, string>> {
    if (this.opts.mode !== 'signed') return this.staticHeaders;
    // The signed bytes must be exactly the bytes sent: `text` is both signed and sent as the body.
    const transferAddress = node.address ?? (await this.opts.pool.addressOf(node.url));
    return {
      ...this.staticHeaders,
      ...signRequest({
        privateKeyHex: this.opts.privateKeyHex as string,
        body: text,
        timestampNs: this.nextTimestamp(),
        transferAddress,
      }),
    };
  }
}

function parseMaybeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw.slice(0, 2000);
  }
}

/** A one-shot event whose handler may come after it fired (then it runs at once). */
function lateBound<T>(): { fire(v: T): void; bind(handler: (v: T) => void): void } {
  let fired: { v: T } | null = null;
  let handler: ((v: T) => void) | null = null;
  return {
    fire(v) {
      if (fired) return;
      fired = { v };
      handler?.(v);
    },
    bind(h) {
      handler = h;
      if (fired) h(fired.v);
    },
  };
}
