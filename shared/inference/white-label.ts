type Json = Record<string, unknown>;

/** The id a synchronous chat completion is answered with: its hold's, so the books can name it. */
export function completionId(holdId: string): string {
  return `chatcmpl-${holdId.slice('hold_'.length)}`;
}

/**
 * What a child key's client sees is the gateway's, not the node's: our id and the public model id
 * replace the node's, and node-specific fields are dropped. Mutates the freshly parsed object.
 */
export function whiteLabel(obj: Json, label: { id: string; model: string }): Json {
  obj.id = label.id;
  obj.model = label.model;
  delete obj.system_fingerprint;
  return obj;
}
