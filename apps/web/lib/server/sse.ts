// Server-sent events from a route handler: a stream of `event:`/`data:` frames, a comment every 15 s
// so proxies keep the connection open, and a cleanup when the browser goes away.

export type SseSend = (event: string, data: unknown) => void;

const KEEPALIVE_MS = 15_000;

/**
 * `start` wires the stream up and returns its cleanup, called once when the browser disconnects or
 * the route ends the stream with `close`.
 */
export function sseResponse(signal: AbortSignal, start: (send: SseSend, close: () => void) => () => void): Response {
  const encoder = new TextEncoder();
  let cleanup: (() => void) | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const finish = () => {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        cleanup?.();
        try {
          controller.close();
        } catch {
          // already closed by the reader
        }
      };
      const send: SseSend = (event, data) => {
        if (closed) return;
        controller.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
      };
      timer = setInterval(() => !closed && controller.enqueue(encoder.encode(': keepalive\n\n')), KEEPALIVE_MS);
      // Tells EventSource to wait 2 s before reconnecting after a drop.
      controller.enqueue(encoder.encode('retry: 2000\n\n'));
      cleanup = start(send, finish);
      signal.addEventListener('abort', finish, { once: true });
    },
    cancel() {
      closed = true;
      clearInterval(timer);
      cleanup?.();
    },
  });
  return new Response(stream, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      // no-transform keeps Next's compression from buffering the stream.
      'cache-control': 'no-cache, no-store, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    },
  });
}
