/**
 * Reading a Server-Sent Events response in tests: events as the browser's
 * EventSource would dispatch them (id, event, data), plus the comments and
 * id-only blocks it would not dispatch, with a timeout on every wait.
 *
 * @module
 */

/** One block of the stream. */
export interface SseBlock {
  id?: string;
  event?: string;
  /** Parsed JSON of the data lines; undefined when there were none. */
  data?: unknown;
  comments: string[];
  retry?: number;
}

/** A stream being read; `close()` cancels it (the server sees the client leave). */
export interface SseReader {
  /** The next block that carries an event (data), waiting up to `ms`. */
  next(ms?: number): Promise<SseBlock & { event: string; data: unknown }>;
  /** The next block of any kind (heartbeats too). */
  nextBlock(ms?: number): Promise<SseBlock>;
  /** Events arriving within `ms` (stops early at `count`). */
  collect(ms: number, count?: number): Promise<(SseBlock & { event: string; data: unknown })[]>;
  /** Resolves true once the server ends the stream (within `ms`). */
  ended(ms?: number): Promise<boolean>;
  close(): Promise<void>;
}

class Timeout extends Error {}

/** Reads `res`'s body as SSE. */
export function readSse(res: Response): SseReader {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let done = false;
  let pendingRead: Promise<ReadableStreamReadResult<string>> | undefined;

  async function fill(deadline: number): Promise<void> {
    pendingRead ??= reader.read();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout()), Math.max(0, deadline - Date.now()));
    });
    try {
      const result = await Promise.race([pendingRead, timeout]);
      pendingRead = undefined;
      if (result.done) done = true;
      else buffer += result.value;
    } finally {
      clearTimeout(timer);
    }
  }

  async function nextBlock(ms = 5000): Promise<SseBlock> {
    const deadline = Date.now() + ms;
    for (;;) {
      const end = buffer.indexOf("\n\n");
      if (end >= 0) {
        const text = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const block: SseBlock = { comments: [] };
        const data: string[] = [];
        for (const line of text.split("\n")) {
          if (line.startsWith(":")) block.comments.push(line.slice(1).trim());
          else if (line.startsWith("id: ")) block.id = line.slice(4);
          else if (line.startsWith("event: ")) block.event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
          else if (line.startsWith("retry: ")) block.retry = Number(line.slice(7));
        }
        if (data.length > 0) block.data = JSON.parse(data.join("\n"));
        return block;
      }
      if (done) throw new Error("the stream ended");
      await fill(deadline);
    }
  }

  async function next(ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const block = await nextBlock(Math.max(1, deadline - Date.now()));
      if (block.data !== undefined) return block as SseBlock & { event: string; data: unknown };
    }
  }

  return {
    next,
    nextBlock,
    async collect(ms, count = Infinity) {
      const deadline = Date.now() + ms;
      const got = [];
      try {
        while (got.length < count) got.push(await next(Math.max(1, deadline - Date.now())));
      } catch (error) {
        if (!(error instanceof Timeout)) throw error;
      }
      return got;
    },
    async ended(ms = 5000) {
      const deadline = Date.now() + ms;
      try {
        while (!done) {
          buffer = "";
          await fill(deadline);
        }
        return true;
      } catch (error) {
        if (error instanceof Timeout) return false;
        return true; // errored by the server: ended too
      }
    },
    async close() {
      await reader.cancel().catch(() => {});
    },
  };
}
