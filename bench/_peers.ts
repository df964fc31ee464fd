/**
 * The servers `bench:http` compares Tusk with, doing the same work on the
 * same database: Hono on Bun with `Bun.sql`, and Fastify with `pg` on Node.
 * Their packages (Bun itself included, from npm) are pinned in
 * `bench/peers/package-lock.json` and installed with `npm ci` on first use.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { needTool, spawnServer } from "./_load.ts";

const PEERS = fileURLToPath(new URL("./peers/", import.meta.url));
const BUN = `${PEERS}node_modules/bun/bin/bun.exe`;

/** Installs the peers' packages unless they are there. */
export async function installPeers(): Promise<void> {
  needTool("bench:http", "node", "install Node.js (the Fastify peer runs on it)");
  needTool("bench:http", "npm", "install npm (it installs the peers from bench/peers)");
  try {
    await Deno.stat(BUN);
    await Deno.stat(`${PEERS}node_modules/fastify`);
    return;
  } catch {
    // Not installed yet.
  }
  console.log("bench:http: installing the peers (npm ci in bench/peers)");
  const { success, stderr } = await new Deno.Command("npm", {
    args: ["ci", "--no-audit", "--no-fund"],
    cwd: PEERS,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`npm ci in bench/peers failed: ${new TextDecoder().decode(stderr)}`);
  }
}

/** Starts a peer (`bun` or `fastify`) on `port`; `await using` stops it. */
export function startPeer(
  peer: "bun" | "fastify",
  port: number,
  env: Record<string, string>,
) {
  const [command, script] = peer === "bun"
    ? [BUN, `${PEERS}bun_server.ts`]
    : ["node", `${PEERS}fastify_server.mjs`];
  return spawnServer(
    command,
    [script],
    { ...env, PORT: String(port) },
    `http://127.0.0.1:${port}/healthz`,
  );
}
