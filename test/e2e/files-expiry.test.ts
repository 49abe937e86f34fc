import { NotFoundError, toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { expireFiles } from '../../shared/batches/file-expiry.js';
import { ManualClock } from '../../shared/clock.js';
import { storedInputBytes } from '../../shared/db/queries/files.js';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * OpenAI's file expiry, through the official client: `expires_after` on an upload and
 * `output_expires_after` on a batch set the files' `expires_at`, and the scheduler's expire-files
 * task deletes them then, as DELETE /v1/files would. Before, both were refused as unknown fields.
 */
const stack = useTestStack();

const line = (id: string) => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8 },
});
const input = () =>
  toFile(Buffer.from([line('a'), line('b')].map((l) => JSON.stringify(l)).join('\n')), 'in.jsonl');

describe('file expiry', () => {
  it('sets expires_at from expires_after and output_expires_after, and deletes the files then', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const file = await c.openai.files.create({
      file: await input(),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    expect(file.expires_at).toBe(file.created_at + 3600);
    const kept = await c.openai.files.create({ file: await input(), purpose: 'batch' });
    expect(kept.expires_at).toBeNull();

    const batch = await c.openai.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      output_expires_after: { anchor: 'created_at', seconds: 7200 },
    });
    const done = await waitFor('the batch completed', async () => {
      const b = await c.openai.batches.retrieve(batch.id);
      return b.status === 'completed' ? b : null;
    });
    const output = await c.openai.files.retrieve(done.output_file_id!);
    expect(output.expires_at).toBe(output.created_at + 7200);

    // Not yet: an hour less a second after the upload, nothing expires.
    const at = (unixSeconds: number) => ({
      ...stack.env.ctx,
      clock: new ManualClock(new Date(unixSeconds * 1000)),
    });
    expect(await expireFiles(at(file.expires_at! - 1))).toBe(0);
    expect((await c.openai.files.retrieve(file.id)).id).toBe(file.id);
    // Past its expires_at (Unix seconds, rounded down) the input goes; the batch made from it keeps
    // its lines and results.
    expect(await expireFiles(at(file.expires_at! + 1))).toBe(1);
    expect(await c.openai.files.retrieve(file.id).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
    expect((await c.openai.batches.retrieve(batch.id)).status).toBe('completed');
    // Then the output; the file uploaded without expires_after stays.
    expect(await expireFiles(at(output.expires_at! + 1))).toBe(1);
    expect(await c.openai.files.content(output.id).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
    expect((await c.openai.files.retrieve(kept.id)).id).toBe(kept.id);
  });

  it('treats a file past its expires_at as gone before the sweep deletes it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const file = await c.openai.files.create({
      file: await input(),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    // Its hour is over and the scheduler has not swept yet (between ticks, or down).
    await stack.env.ctx.sql`update files set expires_at = now() - interval '1 second' where id = ${file.id}`;
    const gone = (p: Promise<unknown>) =>
      p.then(
        () => 'found',
        (e: unknown) => (e instanceof NotFoundError ? 'gone' : e),
      );
    expect(await gone(c.openai.files.retrieve(file.id))).toBe('gone');
    expect(await gone(c.openai.files.content(file.id))).toBe('gone');
    expect((await c.openai.files.list()).data.map((f) => f.id)).not.toContain(file.id);
    const batch = await c.openai.batches
      .create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      .catch((e: unknown) => e);
    expect(batch).toMatchObject({ status: 400, param: 'input_file_id' });
    // …and it no longer takes room in the account's file storage (its bytes still there until the sweep).
    expect(await storedInputBytes(stack.env.ctx.sql, c.accountId, new Date())).toBe(0);
    const aMinuteAgo = new Date(Date.now() - 60_000);
    expect(await storedInputBytes(stack.env.ctx.sql, c.accountId, aMinuteAgo)).toBe(file.bytes);
  });

  it('refuses an expiry OpenAI would refuse, naming the field', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const tooSoon = await c.openai.files
      .create({ file: await input(), purpose: 'batch', expires_after: { anchor: 'created_at', seconds: 60 } })
      .catch((e: unknown) => e);
    expect(tooSoon).toMatchObject({ status: 400, param: 'expires_after.seconds' });
    const file = await c.openai.files.create({ file: await input(), purpose: 'batch' });
    const badAnchor = await c.openai.batches
      .create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        output_expires_after: { anchor: 'last_used' as 'created_at', seconds: 3600 },
      })
      .catch((e: unknown) => e);
    expect(badAnchor).toMatchObject({ status: 400, param: 'output_expires_after.anchor' });
  });
});
