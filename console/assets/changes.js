// The console's "Recent changes" page: follows GET /api/v1/events with tickets that the
// console session asks for, and puts each change at the top of the table as it comes.
const root = document.querySelector("[data-live-changes]");
const rows = root.querySelector("tbody");
const state = document.querySelector("[data-live-status]");
const csrf = JSON.parse(document.body.getAttribute("hx-headers") ?? "{}")["X-CSRF-Token"];
const { followEvents } = await import(root.dataset.helper);
const KEEP = 100;
const WORDS = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Disconnected; reconnecting…",
  closed: "Stopped",
};

function cell(text, href) {
  const td = document.createElement("td");
  if (href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    td.append(a);
  } else td.textContent = text;
  return td;
}

followEvents({
  url: root.dataset.stream,
  lastEventId: root.dataset.after || undefined,
  async getTicket() {
    const res = await fetch(root.dataset.ticket, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf },
    });
    if (!res.ok) throw new Error(`ticket: ${res.status}`);
    return (await res.json()).ticket;
  },
  onStatus(status) {
    state.textContent = WORDS[status];
    state.dataset.liveStatus = status;
  },
  onEvent(event) {
    if (event.type === "reset") return location.reload();
    const data = event.data;
    const tr = document.createElement("tr");
    tr.dataset.eventId = event.id;
    const at = new Date(data.at).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    tr.append(
      cell(event.id, `${root.dataset.history}/${event.id}`),
      cell(at),
      cell(data.table),
      cell(event.type),
      cell(data.row_id, `${root.dataset.history}?table=${data.table}&row_id=${data.row_id}`),
      cell((data.changed ?? []).join(", ") || "—"),
    );
    rows.prepend(tr);
    root.querySelector("[data-empty]")?.remove();
    while (rows.children.length > KEEP) rows.lastElementChild.remove();
  },
});
