/**
 * How deep a request's JSON may nest. Anything deeper is no real request, and past a few thousand
 * levels JSON.stringify (storing it, forwarding it to a node) overflows the stack: a 500.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests at most `max` arrays/objects deep; walked without recursion. */
export function nestsWithin(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: [object, number][] = [];
  if (value !== null && typeof value === 'object') stack.push([value, 1]);
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return false;
    for (const x of Array.isArray(v) ? v : Object.values(v))
      if (x !== null && typeof x === 'object') stack.push([x, depth + 1]);
  }
  return true;
}

/** The 400 for a body that nests too deeply. */
export const tooDeepMessage = `The JSON body nests more than ${MAX_JSON_DEPTH} levels deep`;
