/**
 * Server-sent events as OpenAI-compatible servers send them: yields the `data` of each event
 * (several `data:` lines join with "\n"); comments, `event:`, `id:` and `retry:` lines are skipped.
 * Throws whatever the body stream throws (a cut socket surfaces here).
 */
export async function* sseData(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = '';
  let data: string[] = [];
  for await (const bytes of body) {
    // Strings come from a stream with setEncoding('utf8'), which decodes natively.
    buf += typeof bytes === 'string' ? bytes : decoder.decode(bytes, { stream: true });
    // Walk the buffer with an index and cut it once per network read, not once per line.
    let start = 0;
    let nl = buf.indexOf('\n', start);
    while (nl !== -1) {
      const end = nl > start && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (end === start) {
        if (data.length > 0) {
          yield data.join('\n');
          data = [];
        }
      } else if (buf.startsWith('data:', start)) {
        data.push(buf.slice(buf.charCodeAt(start + 5) === 32 ? start + 6 : start + 5, end));
      }
      start = nl + 1;
      nl = buf.indexOf('\n', start);
    }
    buf = buf.slice(start);
  }
  buf += decoder.decode();
  // A last event the server did not close with a blank line is still delivered.
  if (buf.startsWith('data:')) data.push(buf.slice(buf.charCodeAt(5) === 32 ? 6 : 5).replace(/\r$/, ''));
  if (data.length > 0) yield data.join('\n');
}
