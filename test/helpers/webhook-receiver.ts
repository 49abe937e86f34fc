import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The Standard Webhooks check against the secret expected for the path. */
  verified: boolean;
  verifyError: string | null;
  /** The status the receiver answered with (null: it never answered). */
  answered: number | null;
}

/** What to answer a request with: a status, or `hang` to never answer (a timeout). */
export type Answer = number | 'hang';

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  received: Received[];
  /** Every delivery to `path` must verify with `secret` (checked as it arrives). */
  expectSecret(path: string, secret: string): void;
  /** Answer requests to `path` with these in turn, then 200. */
  plan(path: string, answers: Answer[]): void;
  at(path: string): Received[];
  close(): Promise<void>;
}

/** A webhook receiver on 127.0.0.1 that verifies every delivery with the standardwebhooks library. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const secrets = new Map<string, string>();
  const plans = new Map<string, Answer[]>();
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const body = Buffer.concat(chunks).toString('utf8');
      const secret = secrets.get(path);
      let verifyError: string | null = secret ? null : `no secret expected for ${path}`;
      if (secret) {
        try {
          new Webhook(secret).verify(body, req.headers as Record<string, string>);
        } catch (err) {
          verifyError = (err as Error).message;
        }
      }
      const answer = plans.get(path)?.shift() ?? 200;
      received.push({
        path,
        headers: req.headers,
        body,
        verified: verifyError === null,
        verifyError,
        answered: answer === 'hang' ? null : answer,
      });
      if (answer !== 'hang') res.writeHead(answer).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    received,
    expectSecret: (path, secret) => secrets.set(path, secret),
    plan: (path, answers) => plans.set(path, [...answers]),
    at: (path) => received.filter((r) => r.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
