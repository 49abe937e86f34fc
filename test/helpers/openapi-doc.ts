import { Ajv2020 } from 'ajv/dist/2020.js';
import { call } from './http.js';

/** /openapi.json as tests read it, and how they hold schemas and answers to it. */
export type Doc = { paths: Record<string, Record<string, Operation>>; components?: Record<string, unknown> };
export type Operation = Record<string, unknown>;

/** The document the api at `baseUrl` serves. */
export const fetchOpenApiDocument = async (baseUrl: string): Promise<Doc> =>
  (await call<Doc>(baseUrl, 'GET', '/openapi.json')).body;

/** Ajv for the document's schemas: JSON Schema 2020-12, strict, with the components at `doc#/$defs/`. */
export function schemaCompiler(doc: Doc): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, validateFormats: false });
  ajv.removeKeyword('nullable'); // Ajv knows 3.0's keyword; 3.1 has none
  for (const keyword of ['example', 'discriminator', 'xml', 'externalDocs']) ajv.addKeyword(keyword);
  ajv.addSchema({ $id: 'doc', $defs: doc.components?.schemas ?? {} });
  return ajv;
}

export const inDoc = (schema: unknown) =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"doc#/$defs/'));

/**
 * A checker of answers against the document: for `method path` and an answer, the documented
 * schema's complaints about its body (none when it fits), or 'not documented'.
 */
export function answerChecker(doc: Doc) {
  const ajv = schemaCompiler(doc);
  return (op: string, answer: { status: number; body: unknown }) => {
    const [method = '', path = ''] = op.split(' ');
    const responses = (doc.paths[path]?.[method]?.responses ?? {}) as Record<
      string,
      { content?: Record<string, { schema: unknown }> }
    >;
    const schema = responses[answer.status]?.content?.['application/json']?.schema;
    if (schema === undefined) return [op, answer.status, 'not documented'];
    const validate = ajv.compile(inDoc(schema));
    return [op, answer.status, validate(answer.body) ? [] : validate.errors];
  };
}

/** The JSON request body schema of `method path`. */
export function requestSchema(doc: Doc, op: string): unknown {
  const [method = '', path = ''] = op.split(' ');
  const body = doc.paths[path]?.[method]?.requestBody as
    | { content: Record<string, { schema: unknown }> }
    | undefined;
  return body?.content['application/json']?.schema;
}
