import OpenAI, { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { type Customer, createCustomer, secondManagementKey } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';

/** GET /v1/files and DELETE /v1/files/:id, through the official openai client as a user calls them. */
const stack = useTestStack({ workers: false });

const jsonl = (tag: string) =>
  `${JSON.stringify({
    custom_id: tag,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: tag }], max_tokens: 5 },
  })}\n`;

async function uploadAll(c: Customer, tags: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const tag of tags) {
    const file = await c.openai.files.create({
      file: await toFile(Buffer.from(jsonl(tag)), `${tag}.jsonl`),
      purpose: 'batch',
    });
    ids.push(file.id);
  }
  return ids;
}

describe('listing and deleting files', () => {
  it('keeps a file name outside ASCII as the client sent it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const name = 'données-日本.jsonl';
    const file = await c.openai.files.create({
      file: await toFile(Buffer.from(jsonl('u')), name),
      purpose: 'batch',
    });
    expect(file.filename).toBe(name);
    expect((await c.openai.files.retrieve(file.id)).filename).toBe(name);
  });

  it('lists the management key’s files newest first, a page at a time, and no one else’s', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    const ids = await uploadAll(c, ['a', 'b', 'c']);
    await uploadAll(other, ['x']);

    const first = await c.openai.files.list({ limit: 2 });
    expect(first.data.map((f) => f.id)).toEqual([ids[2], ids[1]]);
    expect(first.has_more).toBe(true);
    const all: string[] = [];
    for await (const f of c.openai.files.list({ limit: 2 })) all.push(f.id);
    expect(all).toEqual([...ids].reverse());
    const oldest = await call(stack.server.url, 'GET', '/v1/files?order=asc&limit=2', { token: c.childKey });
    expect(oldest.body.data.map((f: { id: string }) => f.id)).toEqual([ids[0], ids[1]]);
    expect((await c.openai.files.list({ purpose: 'batch_output' })).data).toEqual([]);
    // OpenAI's other purposes are files this gateway never holds: an empty list, as OpenAI answers
    // an account that has none; a purpose OpenAI does not have is a 400 naming it.
    expect((await c.openai.files.list({ purpose: 'assistants' })).data).toEqual([]);
    const unknownPurpose = await call(stack.server.url, 'GET', '/v1/files?purpose=bogus', {
      token: c.childKey,
    });
    expect(unknownPurpose.status).toBe(400);
    expect(unknownPurpose.body.error.param).toBe('purpose');

    // Another account's file as a cursor tells nothing: a 400, as an unknown id.
    for (const after of [ids[2], 'file-unknown']) {
      const foreign = await call(stack.server.url, 'GET', `/v1/files?after=${after}`, {
        token: other.childKey,
      });
      expect([foreign.status, foreign.body.error.param]).toEqual([400, 'after']);
    }
    const own = await call(stack.server.url, 'GET', '/v1/files', { token: other.childKey });
    expect(own.body.data).toHaveLength(1);
    const bad = await call(stack.server.url, 'GET', '/v1/files?limit=0', { token: c.childKey });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('limit');
  });

  it('deletes a file: its content goes, it is gone for the API, and no batch can be made from it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    const [keep, gone] = await uploadAll(c, ['keep', 'gone']);

    const notTheirs = await call(stack.server.url, 'DELETE', `/v1/files/${gone}`, { token: other.childKey });
    expect(notTheirs.status).toBe(404);

    expect(await c.openai.files.delete(gone!)).toEqual({ id: gone, object: 'file', deleted: true });
    const chunks = await stack.env.ctx.sql`select 1 from file_chunks where file_id = ${gone!}`;
    expect(chunks).toHaveLength(0);
    for (const path of [`/v1/files/${gone}`, `/v1/files/${gone}/content`])
      expect((await call(stack.server.url, 'GET', path, { token: c.childKey })).status).toBe(404);
    expect((await call(stack.server.url, 'DELETE', `/v1/files/${gone}`, { token: c.childKey })).status).toBe(
      404,
    );
    expect((await c.openai.files.list()).data.map((f) => f.id)).toEqual([keep]);

    const batch = await call(stack.server.url, 'POST', '/v1/batches', {
      token: c.childKey,
      body: { input_file_id: gone, endpoint: '/v1/chat/completions', completion_window: '24h' },
    });
    expect(batch.status).toBe(400);
    expect(batch.body.error.param).toBe('input_file_id');
    expect(await (await c.openai.files.content(keep!)).text()).toBe(jsonl('keep'));
  });
});

describe('the owner’s files (/api/files)', () => {
  it('lists every management key’s files, downloads and deletes them, and shows no one else’s', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    const [mine] = await uploadAll(c, ['one']);
    const two = await secondManagementKey(stack.server.url, c);
    const [theirs] = await uploadAll(
      { ...c, openai: new OpenAI({ apiKey: two.childKey, baseURL: `${stack.server.url}/v1` }) },
      ['two'],
    );
    const [foreign] = await uploadAll(other, ['x']);

    const all = await call(stack.server.url, 'GET', '/api/files', { token: c.jwt });
    expect(all.status).toBe(200);
    expect(all.body.data.map((f: { id: string }) => f.id)).toEqual([theirs, mine]);
    expect(all.body.data[0]).toMatchObject({
      object: 'file',
      purpose: 'batch',
      filename: 'two.jsonl',
      management_key_id: two.mkId,
    });
    const page = await call(stack.server.url, 'GET', `/api/files?limit=1&after=${theirs}`, { token: c.jwt });
    expect(page.body).toMatchObject({ data: [{ id: mine, management_key_id: c.mkId }], has_more: false });
    const one = await call(stack.server.url, 'GET', `/api/files?management_key_id=${two.mkId}`, {
      token: c.jwt,
    });
    expect(one.body.data.map((f: { id: string }) => f.id)).toEqual([theirs]);
    const cursor = await call(stack.server.url, 'GET', `/api/files?after=${foreign}`, { token: c.jwt });
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.param).toBe('after');

    const content = await fetch(`${stack.server.url}/api/files/${theirs}/content`, {
      headers: { authorization: `Bearer ${c.jwt}` },
    });
    expect(await content.text()).toBe(jsonl('two'));
    const notMine = await call(stack.server.url, 'GET', `/api/files/${foreign}/content`, { token: c.jwt });
    expect(notMine.status).toBe(404);
    expect((await call(stack.server.url, 'DELETE', `/api/files/${foreign}`, { token: c.jwt })).status).toBe(
      404,
    );
    // A child key is not the owner.
    expect((await call(stack.server.url, 'GET', '/api/files', { token: c.childKey })).status).toBe(403);

    const del = await call(stack.server.url, 'DELETE', `/api/files/${theirs}`, { token: c.jwt });
    expect(del.body).toEqual({ id: theirs, object: 'file', deleted: true });
    expect((await call(stack.server.url, 'GET', `/v1/files/${theirs}`, { token: two.childKey })).status).toBe(
      404,
    );
    expect((await call(stack.server.url, 'DELETE', `/api/files/${theirs}`, { token: c.jwt })).status).toBe(
      404,
    );
    const left = await call(stack.server.url, 'GET', '/api/files', { token: c.jwt });
    expect(left.body.data.map((f: { id: string }) => f.id)).toEqual([mine]);
  });
});
