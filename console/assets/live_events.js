// lib/live_events.ts
var TYPES = [
  "insert",
  "update",
  "delete",
  "message",
  "reset"
];
function followEvents(options) {
  const url = options.url ?? "/api/v1/events";
  const firstRetry = options.retryMs ?? 1e3;
  const maxRetry = options.maxRetryMs ?? 3e4;
  let lastEventId = options.lastEventId;
  let source;
  let timer;
  let retry = firstRetry;
  let closed = false;
  const status = (s) => options.onStatus?.(s);
  function schedule() {
    if (closed) return;
    status("reconnecting");
    timer = setTimeout(connect, retry);
    retry = Math.min(retry * 2, maxRetry);
  }
  async function connect() {
    if (closed) return;
    status("connecting");
    let ticket;
    try {
      ticket = await options.getTicket();
    } catch {
      return schedule();
    }
    if (closed) return;
    const params = new URLSearchParams({
      ...options.query,
      ticket
    });
    if (lastEventId !== void 0) params.set("last_event_id", lastEventId);
    const base = typeof location === "undefined" ? void 0 : location.href;
    const es = new EventSource(new URL(`${url}?${params}`, base).href);
    source = es;
    es.onopen = () => {
      retry = firstRetry;
      status("open");
    };
    for (const type of TYPES) {
      es.addEventListener(type, (event) => {
        const message = event;
        lastEventId = message.lastEventId;
        options.onEvent({
          id: message.lastEventId,
          type,
          data: JSON.parse(message.data)
        });
      });
    }
    es.onerror = () => {
      es.close();
      if (source === es) schedule();
    };
  }
  void connect();
  return {
    get lastEventId() {
      return lastEventId;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      source?.close();
      status("closed");
    }
  };
}
function bearerTicket(apiBase, token) {
  return async () => {
    const res = await fetch(`${apiBase}/events/ticket`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${token()}`
      }
    });
    if (!res.ok) throw new Error(`Could not get an events ticket: ${res.status}`);
    return (await res.json()).ticket;
  };
}
export {
  bearerTicket,
  followEvents
};
