import { Validator } from '@seriousme/openapi-schema-validator';
import type { Express } from 'express';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { ROUTES as FAST_ROUTES } from '../../api/fast-v1.js';
import { WEBHOOK_EVENT_TYPES } from '../../shared/webhooks/events.js';
import {
  type Doc,
  fetchOpenApiDocument,
  inDoc,
  type Operation,
  schemaCompiler,
} from '../helpers/openapi-doc.js';
import { useTestStack } from '../helpers/stack.js';

// /openapi.json as the api serves it: valid OpenAPI 3.1, every schema in it valid JSON Schema 2020-12.
// What the api answers is held to it in openapi-answers.test.ts.
const stack = useTestStack({ workers: false });

const fetchDocument = () => fetchOpenApiDocument(stack.server.url);

/** What the official OpenAPI 3.1 schema says of a document (errors as text, for the failure message). */
async function openApiErrors(doc: unknown): Promise<string[]> {
  const result = await new Validator().validate(structuredClone(doc) as Record<string, unknown>);
  if (result.valid) return [];
  return typeof result.errors === 'string'
    ? [result.errors]
    : (result.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

/**
 * The official 3.1 schema takes any object as a Schema Object: each is compiled here against JSON
 * Schema 2020-12 in strict mode, so an unknown keyword (3.0's `nullable`) or a malformed one fails.
 * OpenAPI's own schema keywords are allowed; `$ref`s into the components resolve.
 */
function schemaErrors(doc: Doc): string[] {
  const ajv = schemaCompiler(doc);
  const errors: string[] = [];
  const walk = (node: unknown, at: string): void => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key !== 'schema') walk(value, `${at}/${key}`);
      else
        try {
          ajv.compile(inDoc(value));
        } catch (err) {
          errors.push(`${at}/schema: ${(err as Error).message}`);
        }
    }
  };
  walk(doc.paths, '#/paths');
  for (const [name, schema] of Object.entries((doc.components?.schemas ?? {}) as Record<string, unknown>))
    walk({ schema }, `#/components/schemas/${name}`);
  return errors;
}

/** Express 5's router layers, as far as the walk below reads them. */
interface Layer {
  name: string;
  rawPath?: unknown;
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[]; router?: { stack: Layer[] } };
}

/**
 * Every method and path the api answers, as OpenAPI writes it (`:id` and `*id` → `{id}`, no
 * trailing slash): the Express app's routes, found by walking its router stack (sub-apps too), a
 * static mount as GET of its root, and the fast path's routes (fast-v1.ts, all POST).
 */
function servedRoutes(app: Express): string[] {
  const found = Object.keys(FAST_ROUTES).map((path) => `post ${path}`);
  const walk = (stack: Layer[], prefix: string): void => {
    for (const layer of stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      if (layer.route)
        for (const method of Object.keys(layer.route.methods))
          found.push(`${method} ${openApiPath(prefix + layer.route.path)}`);
      else if (layer.name === 'serveStatic') found.push(`get ${openApiPath(prefix)}`);
      else {
        const inner = layer.handle.stack ?? layer.handle.router?.stack;
        if (inner) walk(inner, prefix + mount);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return [...new Set(found)].sort();
}

const openApiPath = (expressPath: string): string =>
  expressPath.replace(/[:*](\w+)/g, '{$1}').replace(/(.)\/$/, '$1');

/**
 * Served but left out of the document on purpose. The dashboard's own files (its scripts and
 * styles under /dashboard/) are left out too: the walk sees only its page, GET /dashboard.
 */
const UNDOCUMENTED: { prefix: string; why: string }[] = [
  {
    prefix: '/admin/queues',
    why: 'the bull-board operator UI and its JSON API (ADMIN_TOKEN): a third party’s, not the gateway’s contract',
  },
];

/** The /v1 routes that admit a request (hold money, count RPM): API.md's admission errors. */
const ADMITTING: Record<string, number[]> = {
  'post /v1/chat/completions': [402, 429, 502, 503],
  'post /v1/jobs': [402, 429],
};

/**
 * The error answers an operation must document, from what the document says of it: 400 if it
 * takes input, 401/403 if a key or session is needed (401 alone for the admin token), 404 by id,
 * 413 with a body, 503 where Postgres or Redis answer it (all of /api and /v1), and admission's.
 */
function expectedErrors(method: string, path: string, op: Operation): number[] {
  const statuses = [...(ADMITTING[`${method} ${path}`] ?? [])];
  const store = /^\/(api|v1)\//.test(path);
  if (op.requestBody || (op.parameters as unknown[] | undefined)?.length) statuses.push(400);
  if (store && path.startsWith('/api/admin/')) statuses.push(401);
  else if (store && !Array.isArray(op.security)) statuses.push(401, 403);
  if (path.includes('{')) statuses.push(404);
  if (op.requestBody) statuses.push(413);
  if (store) statuses.push(503);
  return [...new Set(statuses)].sort();
}

/** Error answers whose body is not the envelope: /readyz's 503 says which store is down. */
const NOT_ENVELOPE = new Set(['get /readyz 503']);

type Schema = Record<string, unknown>;

/**
 * The money fields (nGNK) a schema holds, each with its schema, by name: `*_ngonka*`, and the
 * limit error's `daily_remaining` and `monthly_remaining`. `$ref`s are followed.
 */
function moneyFields(doc: Doc, root: unknown): [string, Schema][] {
  const found: [string, Schema][] = [];
  const seen = new Set<unknown>();
  const components = (doc.components?.schemas ?? {}) as Record<string, unknown>;
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object' || seen.has(node)) return;
    seen.add(node);
    const ref = (node as Schema).$ref;
    if (typeof ref === 'string') walk(components[ref.replace('#/components/schemas/', '')]);
    for (const [name, field] of Object.entries(((node as Schema).properties ?? {}) as Record<string, Schema>))
      if (/ngonka|^(daily|monthly)_remaining$/.test(name)) found.push([name, field]);
    for (const value of Object.values(node)) walk(value);
  };
  walk(root);
  return found;
}

/** Digits as the api writes and takes them: no leading zero ("01" is refused, so not documented as valid). */
const MONEY_PATTERN = '^(0|[1-9]\\d*)$';
/** What API.md says money is in an answer: a JSON string of a non-negative integer. */
const moneyOut = (field: Schema) =>
  field.pattern === MONEY_PATTERN && [['string'], ['string', 'null']].some((t) => `${t}` === `${field.type}`);
/** What API.md says a money input accepts: a string of digits or a safe JSON integer (or null to clear). */
const moneyIn = (field: Schema) =>
  JSON.stringify(((field.anyOf ?? []) as Schema[]).filter((s) => s.type !== 'null')) ===
  JSON.stringify([
    { type: 'string', maxLength: 19, pattern: MONEY_PATTERN },
    { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  ]);

const operations = (doc: Doc): string[] =>
  Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`))
    .sort();

describe('/openapi.json', () => {
  it('has an operation for every route the api serves, and none it does not', async () => {
    const all = servedRoutes(createApp(stack.env.ctx, stack.deps));
    const left = (u: { prefix: string }) => (route: string) => route.split(' ')[1]?.startsWith(u.prefix);
    const served = all.filter((route) => !UNDOCUMENTED.some((u) => left(u)(route)));
    // The walk does find what it should, what is left out too (so no entry there goes stale).
    for (const u of UNDOCUMENTED) expect([u.prefix, all.some(left(u))]).toEqual([u.prefix, true]);
    expect(served).toEqual(
      expect.arrayContaining(['get /v1/models/{id}', 'post /v1/jobs', 'get /api/jobs', 'get /dashboard']),
    );
    expect(operations(await fetchDocument())).toEqual(served);
  });

  it('documents the error answers of every operation, each with the one error envelope', async () => {
    const doc = await fetchDocument();
    expect(doc.components?.schemas).toHaveProperty('Error');
    const envelope = { $ref: '#/components/schemas/Error' };
    for (const [path, ops] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(ops)) {
        const responses = op.responses as Record<string, { content?: Record<string, { schema: unknown }> }>;
        const documented = Object.keys(responses).map(Number);
        const missing = expectedErrors(method, path, op).filter((s) => !documented.includes(s));
        expect([method, path, missing]).toEqual([method, path, []]);
        for (const status of documented.filter(
          (s) => s >= 400 && !NOT_ENVELOPE.has(`${method} ${path} ${s}`),
        ))
          expect([method, path, status, responses[status]?.content]).toEqual([
            method,
            path,
            status,
            { 'application/json': { schema: envelope } },
          ]);
      }
    // What API.md names in particular.
    expect(Object.keys(doc.paths['/v1/files']?.post?.responses ?? {})).toContain('413');
    expect(Object.keys(doc.paths['/v1/jobs']?.get?.responses ?? {})).toContain('400');
  });

  it('gives money as strings of digits, and takes it as one or as a safe integer', async () => {
    const doc = await fetchDocument();
    const answered = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(ops)) {
        for (const [name, field] of moneyFields(doc, op.responses)) {
          answered.add(`${method} ${path} ${name}`);
          expect([method, path, name, moneyOut(field)]).toEqual([method, path, name, true]);
        }
        for (const [name, field] of moneyFields(doc, [op.requestBody, op.parameters]))
          expect([method, path, name, field, moneyIn(field)]).toEqual([method, path, name, field, true]);
      }
    // The money /v1 answers carry is in the document: a job's cost, a model's prices.
    for (const op of ['get /v1/jobs/{id}', 'post /v1/jobs', 'get /v1/jobs', 'get /api/jobs'])
      expect(answered).toContain(`${op} cost_ngonka`);
    for (const op of ['get /v1/models', 'get /v1/models/{id}'])
      expect(answered).toContain(`${op} prompt_ngonka_per_million_tokens`);
    // And the inputs: a child key's limits, a top-up.
    const limit = doc.paths['/api/management/keys/{id}/children']?.post?.requestBody;
    expect(moneyFields(doc, limit).map(([name]) => name)).toEqual([
      'limit_daily_ngonka',
      'limit_monthly_ngonka',
    ]);
  });

  it('is valid OpenAPI 3.1 by the official schema', async () => {
    const doc = await fetchDocument();
    expect(await openApiErrors(doc)).toEqual([]);
    // The validator does refuse a broken document (so the line above can fail).
    const { info: _, ...broken } = doc as Doc & { info: unknown };
    expect(await openApiErrors(broken)).not.toEqual([]);
  });

  it('documents the chat answer, its stream and the headers API.md makes binding', async () => {
    const doc = await fetchDocument();
    type Response = {
      content?: Record<string, { schema: { $ref?: string } }>;
      headers?: Record<string, unknown>;
    };
    const op = (path: string, method: string) =>
      (doc.paths[path]?.[method]?.responses ?? {}) as Record<string, Response>;
    const chat = op('/v1/chat/completions', 'post');
    expect(Object.keys(chat['200']?.content ?? {}).sort()).toEqual(['application/json', 'text/event-stream']);
    expect(chat['200']?.content?.['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/ChatCompletion',
    });
    expect(Object.keys((doc.components?.schemas ?? {}) as object)).toEqual(
      expect.arrayContaining(['ChatCompletion', 'ChatCompletionChunk']),
    );
    const rateLimit = [
      'x-ratelimit-limit-requests',
      'x-ratelimit-remaining-requests',
      'x-ratelimit-reset-requests',
    ];
    for (const [path, ops] of Object.entries(doc.paths).filter(([p]) => p.startsWith('/v1/')))
      for (const method of Object.keys(ops)) {
        const responses = op(path, method);
        for (const status of ['200', '202', '402', '429'].filter((s) => s in responses))
          expect([method, path, status, Object.keys(responses[status]?.headers ?? {})]).toEqual([
            method,
            path,
            status,
            expect.arrayContaining([
              'x-request-id',
              ...rateLimit,
              ...(status === '429' ? ['retry-after', 'retry-after-ms'] : []),
            ]),
          ]);
      }
    expect(Object.keys(op('/v1/jobs', 'post')['202']?.headers ?? {})).toContain('idempotent-replayed');
    expect(Object.keys(op('/v1/batches', 'post')['200']?.headers ?? {})).toContain('idempotent-replayed');
    expect(Object.keys(op('/api/account', 'get')['200']?.headers ?? {})).toEqual(['x-request-id']);
  });

  it('describes the body of every webhook event an endpoint can subscribe to', async () => {
    const { webhooks } = (await fetchDocument()) as Doc & {
      webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: unknown }> } } }>;
    };
    expect(Object.keys(webhooks).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    const low = webhooks['account.low_balance']!.post.requestBody.content['application/json']!.schema;
    expect(JSON.stringify(low)).toContain('threshold_ngonka');
  });

  it('is titled with the brand (white-label), never the network', async () => {
    const { info } = (await fetchDocument()) as Doc & { info: { title: string } };
    expect(info.title).toBe(`${stack.env.config.BRAND_NAME} API`);
    expect(info.title.toLowerCase()).not.toContain('gonka');
  });

  it('has only valid JSON Schema 2020-12 schemas, each path parameter declared', async () => {
    const doc = await fetchDocument();
    expect(schemaErrors(doc)).toEqual([]);
    const broken = structuredClone(doc) as Doc;
    broken.components = { schemas: { Bad: { type: 'string', nullable: true } } };
    expect(schemaErrors(broken)).not.toEqual([]);
    for (const [path, operations] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(operations)) {
        const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
        const declared = ((op.parameters ?? []) as { in: string; name: string }[])
          .filter((p) => p.in === 'path')
          .map((p) => p.name)
          .sort();
        expect([method, path, declared]).toEqual([method, path, inPath]);
      }
  });
});
