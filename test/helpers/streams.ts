import type { ChatCompletionChunk } from 'openai/resources/chat/completions';

/** A chat stream read to its end or its break: the content pieces that arrived, and the error (null if none). */
export async function readUntilBreak(
  stream: AsyncIterable<ChatCompletionChunk>,
): Promise<{ pieces: string[]; err: unknown; usage: ChatCompletionChunk['usage'] }> {
  const pieces: string[] = [];
  let usage: ChatCompletionChunk['usage'] = null;
  try {
    for await (const chunk of stream) {
      const content = chunk.choices[0]?.delta?.content;
      if (content) pieces.push(content);
      if (chunk.usage) usage = chunk.usage;
    }
    return { pieces, err: null, usage };
  } catch (err) {
    return { pieces, err, usage };
  }
}
