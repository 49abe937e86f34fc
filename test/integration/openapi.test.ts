import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { type QueueName, queuePayloads } from '../../shared/queues.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';

// /openapi.json as the api serves it: valid OpenAPI 3.1, every schema in it valid JSON Schema 2020-12.
const stack = useTestStack({ workers: false });
// The app's queue board opened every queue's connection: the checks below hold the event loop for a
// while, and closing a queue still connecting rejects its first commands unhandled.
beforeAll(async () => {
  for (const name of Object.keys(queuePayloads) as QueueName[])
    await stack.deps.queues.get(name).waitUntilReady();
});

type Doc = { paths: Record<string, Record<string, Operation>>; components?: Record<string, unknown> };
type Operation = Record<string, unknown>;

const served = async (): Promise<Doc> => (await call<Doc>(stack.server.url, 'GET', '/openapi.json')).body;

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
  const ajv = new Ajv2020({ strict: true, validateFormats: false });
  ajv.removeKeyword('nullable'); // Ajv knows 3.0's keyword; 3.1 has none
  for (const keyword of ['example', 'discriminator', 'xml', 'externalDocs']) ajv.addKeyword(keyword);
  ajv.addSchema({ $id: 'doc', components: doc.components ?? {} });
  const errors: string[] = [];
  const walk = (node: unknown, at: string): void => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key !== 'schema') walk(value, `${at}/${key}`);
      else
        try {
          ajv.compile(JSON.parse(JSON.stringify(value).replaceAll('"#/components/', '"doc#/components/')));
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

describe('/openapi.json', () => {
  it('is valid OpenAPI 3.1 by the official schema', async () => {
    const doc = await served();
    expect(await openApiErrors(doc)).toEqual([]);
    // The validator does refuse a broken document (so the line above can fail).
    const { info: _, ...broken } = doc as Doc & { info: unknown };
    expect(await openApiErrors(broken)).not.toEqual([]);
  });

  it('has only valid JSON Schema 2020-12 schemas, each path parameter declared', async () => {
    const doc = await served();
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
