import { createHash } from 'node:crypto';
import { isJsonObject, type JsonObject } from '../../json-object.js';
import { type SimCompletion, type SimMessage, simulateCompletion, wordPiece } from './completion.js';

/**
 * What a node's answer is made of, as vLLM decides it from the request: text; JSON text
 * (`response_format` json_object or json_schema, the schema followed); or a call to one of the
 * request's `tools` (vLLM's tool parser: `tool_choice` a named function, "required", or "auto",
 * which the simulator takes to mean "call the first tool", unless the last message is a tool's
 * result, which it answers). Deterministic, from the messages, so tests can assert it.
 */
export type AnswerShape =
  | { kind: 'text' }
  | { kind: 'json'; schema: unknown }
  | { kind: 'tool'; name: string; parameters: unknown };

/** What is streamed: one piece per chunk and per completion token, as the text's words are. */
export interface SimAnswer {
  pieces: string[];
  promptTokens: number;
  completionTokens: number;
  finishReason: 'stop' | 'length' | 'tool_calls';
  /** The tool call whose arguments the pieces are. */
  toolCall?: { id: string; name: string };
}

export function answerShape(body: JsonObject, messages: readonly SimMessage[]): AnswerShape {
  const tools = Array.isArray(body.tools)
    ? body.tools.filter((t): t is { function: JsonObject } => isJsonObject(t) && isJsonObject(t.function))
    : [];
  const choice = body.tool_choice;
  if (tools.length > 0 && choice !== 'none') {
    const named = isJsonObject(choice) && isJsonObject(choice.function) ? choice.function.name : undefined;
    const tool = named === undefined ? tools[0] : tools.find((t) => t.function.name === named);
    const answersAResult =
      choice === 'auto' || choice === undefined ? messages.at(-1)?.role === 'tool' : false;
    if (tool && typeof tool.function.name === 'string' && !answersAResult)
      return { kind: 'tool', name: tool.function.name, parameters: tool.function.parameters ?? null };
  }
  const format = body.response_format;
  if (isJsonObject(format) && format.type === 'json_object') return { kind: 'json', schema: null };
  if (isJsonObject(format) && format.type === 'json_schema')
    return {
      kind: 'json',
      schema: isJsonObject(format.json_schema) ? (format.json_schema.schema ?? null) : null,
    };
  return { kind: 'text' };
}

/** Characters of JSON per piece (a token): about what a tokenizer makes of JSON. */
const PIECE_CHARS = 4;

export function simulateAnswer(
  shape: AnswerShape,
  messages: readonly SimMessage[],
  maxTokens?: number,
): SimAnswer {
  if (shape.kind === 'text') return textAnswer(simulateCompletion(messages, maxTokens));
  // The words the text answer would have had give the JSON its strings.
  const { words, promptTokens } = simulateCompletion(messages);
  const value =
    shape.kind === 'tool'
      ? valueFor(shape.parameters, words, 0)
      : shape.schema === null
        ? { answer: words.join(' ') }
        : valueFor(shape.schema, words, 0);
  const text = JSON.stringify(value ?? {});
  const whole: string[] = [];
  for (let i = 0; i < text.length; i += PIECE_CHARS) whole.push(text.slice(i, i + PIECE_CHARS));
  const pieces = maxTokens === undefined ? whole : whole.slice(0, maxTokens);
  const cut = pieces.length < whole.length;
  return {
    pieces,
    promptTokens,
    completionTokens: pieces.length,
    finishReason: cut ? 'length' : shape.kind === 'tool' ? 'tool_calls' : 'stop',
    ...(shape.kind === 'tool' ? { toolCall: { id: callId(messages), name: shape.name } } : {}),
  };
}

/**
 * vLLM ends an answer at the first of the request's `stop` sequences, which the text leaves out
 * (`finish_reason: "stop"`); the tokens generated up to the end of the sequence count in its usage.
 * A tool call's arguments are not cut.
 */
export function applyStop(a: SimAnswer, stop: unknown): SimAnswer {
  const stops = (typeof stop === 'string' ? [stop] : Array.isArray(stop) ? stop : []).filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
  if (stops.length === 0 || a.toolCall) return a;
  const text = a.pieces.join('');
  let at = -1;
  let end = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) [at, end] = [i, i + s.length];
  }
  if (at < 0) return a;
  const pieces: string[] = [];
  let generated = 0;
  let offset = 0;
  for (const piece of a.pieces) {
    if (offset >= end) break;
    generated++;
    if (offset < at) {
      const kept = piece.slice(0, at - offset);
      if (kept) pieces.push(kept);
    }
    offset += piece.length;
  }
  return { ...a, pieces, completionTokens: generated, finishReason: 'stop' };
}

function textAnswer(c: SimCompletion): SimAnswer {
  return {
    pieces: c.words.map((_, i) => wordPiece(c.words, i)),
    promptTokens: c.promptTokens,
    completionTokens: c.completionTokens,
    finishReason: c.finishReason,
  };
}

function callId(messages: readonly SimMessage[]): string {
  const h = createHash('sha256').update(JSON.stringify(messages)).digest('hex');
  return `call_${h.slice(0, 24)}`;
}

/**
 * A value the JSON schema accepts, for the common schemas structured outputs use: objects (every
 * property), arrays (one item), strings (an enum's first, else a word), numbers, booleans, null,
 * and the first of an anyOf/oneOf. `$ref` and the rest give null.
 */
function valueFor(schema: unknown, words: readonly string[], depth: number): unknown {
  if (!isJsonObject(schema) || depth > 8) return null;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ('const' in schema) return schema.const;
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives) && alternatives.length > 0)
    return valueFor(alternatives[0], words, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  const word = words[depth % Math.max(words.length, 1)] ?? 'lumen';
  switch (type ?? (isJsonObject(schema.properties) ? 'object' : undefined)) {
    case 'object': {
      const out: JsonObject = {};
      const props = isJsonObject(schema.properties) ? schema.properties : {};
      for (const [i, [k, v]] of Object.entries(props).entries())
        out[k] = valueFor(v, words.slice(i + 1), depth + 1);
      return out;
    }
    case 'array':
      return [valueFor(schema.items, words, depth + 1)];
    case 'string':
      return word;
    case 'integer':
      return word.length;
    case 'number':
      return word.length + 0.5;
    case 'boolean':
      return true;
    default:
      return null;
  }
}
