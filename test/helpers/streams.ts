import type { ChatCompletionChunk } from 'openai/resources/chat/completions';

/** A chat stream read to its end or its break: the content pieces that arrived, and the error (null if none). */
export async function readUntilBreak(
  stream: AsyncIterable<ChatCompletionChunk>,
): Promise<{ pieces: string[]; err: unknown }> {
  const pieces: string[] = [];
  try {
    for await (const chunk of stream) {
      const content = chunk.choices[0]?.delta?.content;
      if (content) pieces.push(content);
    }
    return { pieces, err: null };
  } catch (err) {
    return { pieces, err };
  }
}
