/**
 * `bench:http`'s output: the Markdown table and an SVG bar chart of the
 * ratios (drawn here, no network, no library).
 *
 * @module
 */

/** One measured line: requests per second and its ratio to its baseline. */
export interface Row {
  label: string;
  rate: number;
  ratio: number;
  /** What the ratio is of. */
  of: string;
  /** The issue's goal for the ratio, if any. */
  goal?: number;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** CPU per request of one server on one endpoint, and its ratio to its baseline's (if any). */
export interface CpuRow {
  label: string;
  us: number;
  ratio?: number;
  of?: string;
}

/** A server's memory after a load: its peak RSS under the load, and its RSS once idle again. */
export interface Memory {
  peakMb: number;
  settledMb: number;
}

/** The table, with the run's settings and the API's RSS under it. */
export function toMarkdown(
  rows: Row[],
  run: {
    date: string;
    runs: number;
    seconds: number;
    clients: number;
    memory: Memory;
    /** The memory with `lowMemoryFlags` in `DENO_V8_FLAGS`. */
    lowMemory: Memory;
    lowMemoryFlags: string;
    settleSeconds: number;
    hashMs: number;
    /** CPU per request in the server process, for the endpoints measured with it. */
    cpu: CpuRow[];
  },
): string {
  const lines = [
    `| server / endpoint (${run.date}) | req/s (median of ${run.runs}) | ratio | goal |`,
    "| --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.label} | ${fmt(r.rate)} | ${
        r.ratio === 1 ? "1.00" : `**${r.ratio.toFixed(2)}**`
      } of ${r.of} | ${r.goal === undefined ? "" : `>= ${r.goal}`} |`
    ),
    `| Tusk API RSS after the runs (idle ${run.settleSeconds} s) | ${
      fmt(run.memory.settledMb)
    } MB | | <= 150 MB |`,
    `| Tusk API peak RSS under load | ${fmt(run.memory.peakMb)} MB | | |`,
    `| Tusk API RSS after the runs, low-memory V8 setting | ${
      fmt(run.lowMemory.settledMb)
    } MB (peak ${fmt(run.lowMemory.peakMb)} MB) | | |`,
  ];
  const cpu = [
    `| CPU per request in the server process (median of ${run.runs}) | µs | ratio |`,
    "| --- | --- | --- |",
    ...run.cpu.map((r) =>
      `| ${r.label} | ${r.us.toFixed(0)} | ${
        r.ratio === undefined ? "" : `**${r.ratio.toFixed(2)}** of ${r.of}`
      } |`
    ),
  ];
  return `${lines.join("\n")}\n\n${cpu.join("\n")}\n\n` +
    `\`wrk -t1 -c${run.clients}\`, ${run.seconds} s per run; ` +
    `pgbench \`-M prepared -c${run.clients}\`; argon2id hash ${run.hashMs.toFixed(0)} ms; ` +
    `low-memory V8 setting: \`DENO_V8_FLAGS=${run.lowMemoryFlags}\`.`;
}

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`).replaceAll("`", "");
}

/** Horizontal bars of each ratio (1.0 = its baseline), with the goal marked where there is one. */
export function barChart(rows: Row[]): string {
  const shown = rows.filter((r) => r.ratio !== 1);
  const width = 760;
  const labelWidth = 300;
  const barMax = width - labelWidth - 80;
  const rowHeight = 28;
  const top = 36;
  const height = top + shown.length * rowHeight + 24;
  const scale = Math.max(1, ...shown.map((r) => r.ratio));
  const x = (ratio: number) => labelWidth + (ratio / scale) * barMax;
  const bars = shown.map((r, i) => {
    const y = top + i * rowHeight;
    const met = r.goal === undefined || r.ratio >= r.goal;
    const goal = r.goal === undefined
      ? ""
      : `<line x1="${x(r.goal)}" x2="${x(r.goal)}" y1="${y - 2}" y2="${
        y + 20
      }" stroke="#222" stroke-dasharray="3 2"/>`;
    return `<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end">${escape(r.label)}</text>` +
      `<rect x="${labelWidth}" y="${y}" width="${x(r.ratio) - labelWidth}" height="18" fill="${
        met ? "#3b7d4f" : "#c0504d"
      }"/>` +
      `<text x="${x(r.ratio) + 6}" y="${y + 14}">${r.ratio.toFixed(2)}</text>${goal}`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="12">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${labelWidth}" y="20" font-weight="bold">Ratio to its baseline (dashed: goal; ` +
    `green: met, red: not met)</text>` +
    `<line x1="${x(1)}" x2="${x(1)}" y1="${top - 6}" y2="${height - 18}" stroke="#999"/>` +
    bars.join("") + `</svg>\n`;
}
