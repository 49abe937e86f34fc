import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { createKeyFixture } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import {
  answerChecker,
  fetchOpenApiDocument,
  inDoc,
  requestSchema,
  schemaCompiler,
} from '../helpers/openapi-doc.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// What the api answers, held to its /openapi.json. The workers run, so a job ends as a client sees it.
const stack = useTestStack();

const fetchDocument = () => fetchOpenApiDocument(stack.server.url);

describe('/openapi.json against the answers', () => {
  it('describes what the api answers: a job, the models, a refusal', async () => {
    const misfits = answerChecker(await fetchDocument());
    const { plainKey } = await createKeyFixture(stack.env.ctx, { balance: 10n ** 12n });
    const v1 = (method: string, path: string, body?: unknown, token = plainKey) =>
      call(stack.server.url, method, path, { token, body });
    const models = await v1('GET', '/v1/models');
    const model = models.body.data[0].id as string;
    const chat = { model, messages: [{ role: 'user', content: 'hi' }] };
    const answers: [string, { status: number; body: unknown }][] = [
      ['get /v1/models', models],
      ['get /v1/models/{id}', await v1('GET', `/v1/models/${model}`)],
      ['post /v1/jobs', await v1('POST', '/v1/jobs', { request: chat })],
      ['get /v1/jobs', await v1('GET', '/v1/jobs')],
      ['post /v1/chat/completions', await v1('POST', '/v1/chat/completions', { ...chat, max_tokens: 8 })],
      [
        'post /v1/chat/completions',
        await v1('POST', '/v1/chat/completions', chat, (await createKeyFixture(stack.env.ctx)).plainKey),
      ],
    ];
    expect(answers.map(([, a]) => a.status)).toEqual([200, 200, 202, 200, 200, 402]);
    for (const [op, answer] of answers) expect(misfits(op, answer)).toEqual([op, answer.status, []]);
  });

  it('describes the files, a finished job and a refused batch as answered', async () => {
    const doc = await fetchDocument();
    // The file objects are closed (no field beyond those listed); a chat.completion is open beyond its own.
    const misfits = answerChecker(doc);
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const as = (token: string) => (method: string, path: string, body?: unknown) =>
      call(stack.server.url, method, path, { token, body });
    const v1 = as(c.childKey);
    const owner = as(c.jwt);
    const form = new FormData();
    form.set('purpose', 'batch');
    const line = {
      custom_id: 'a',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 },
    };
    form.set('file', new Blob([JSON.stringify(line)]), 'in.jsonl');
    const upload = await fetch(`${stack.server.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.childKey}` },
      body: form,
    });
    const file = { status: upload.status, body: (await upload.json()) as { id: string } };
    const jobId = (await v1('POST', '/v1/jobs', { request: line.body })).body.id as string;
    const job = await waitFor('the job done', async () => {
      const j = await v1('GET', `/v1/jobs/${jobId}`);
      return j.body.status === 'succeeded' ? j : null;
    });
    const answers: [string, { status: number; body: unknown }][] = [
      ['post /v1/files', file],
      ['get /v1/files', await v1('GET', '/v1/files')],
      ['get /v1/files/{id}', await v1('GET', `/v1/files/${file.body.id}`)],
      ['get /api/files', await owner('GET', '/api/files')],
      ['get /v1/jobs/{id}', job],
      [
        'post /v1/batches',
        await v1('POST', '/v1/batches', {
          input_file_id: 'file_none',
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        }),
      ],
      ['delete /v1/files/{id}', await v1('DELETE', `/v1/files/${file.body.id}`)],
    ];
    expect(answers.map(([, a]) => a.status)).toEqual([200, 200, 200, 200, 200, 400, 200]);
    for (const [op, answer] of answers)
      expect(misfits(op, answer), JSON.stringify(answer.body)).toEqual([op, answer.status, []]);
    // The check does catch a field the document leaves out.
    expect(
      misfits('get /v1/files/{id}', {
        status: 200,
        body: { ...(answers[2]![1].body as object), extra: 1 },
      })[2],
    ).not.toEqual([]);
  });

  it('documents each body limit as its path has it, and n as null or 1', async () => {
    const doc = await fetchDocument();
    const tooLarge = (path: string) =>
      ((doc.paths[path]?.post?.responses ?? {}) as Record<string, { description: string }>)['413']
        ?.description;
    expect(tooLarge('/v1/chat/completions')).toMatch(/4 MiB of JSON/);
    expect(tooLarge('/api/management/keys')).toMatch(/128 KiB of JSON/);
    const ajv = schemaCompiler(doc);
    const chatBody = requestSchema(doc, 'post /v1/chat/completions');
    const valid = ajv.compile(inDoc(chatBody));
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    expect([null, 1, 2].map((n) => valid({ ...body, n }))).toEqual([true, true, false]);
    // A job's request does not stream, as the server refuses.
    const jobBody = requestSchema(doc, 'post /v1/jobs');
    const validJob = ajv.compile(inDoc(jobBody));
    expect([false, true].map((stream) => validJob({ request: { ...body, stream } }))).toEqual([true, false]);
  });
});
