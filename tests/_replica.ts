/**
 * A primary and a streaming replica of its own for a test: an embedded
 * PostgreSQL, then a hot standby made from it with the low-level base backup
 * (`pg_backup_start`, a copy of the data directory, `pg_backup_stop`), since
 * the embedded binaries carry no `pg_basebackup`.
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../db/embedded/mod.ts";
import { freePort } from "./process.ts";

/** The two servers; `await using` stops both and removes their files. */
export interface PrimaryAndReplica extends AsyncDisposable {
  primary: EmbeddedPostgres;
  replica: EmbeddedPostgres;
  /** Stops the replica (it can be started again with `startReplica()`). */
  stopReplica(): Promise<void>;
  startReplica(): Promise<void>;
}

// Files of the primary's running server that a copy must not carry.
const NOT_COPIED = ["postmaster.pid", "postmaster.opts", "tusk_owner.pid", "server.log"];

/** Starts a primary and a replica streaming from it. */
export async function primaryAndReplica(): Promise<PrimaryAndReplica> {
  const dir = await Deno.makeTempDir({ prefix: "tusk-replica-" });
  // Postgres runs as the postgres OS user when we are root: it must reach its data dirs.
  await Deno.chmod(dir, 0o755);
  const primaryDir = join(dir, "primary");
  const replicaDir = join(dir, "replica");
  const primary = await startEmbeddedPostgres({ dir: primaryDir, port: freePort() });
  const replicaPort = freePort();
  const owner = await Deno.stat(join(primaryDir, "PG_VERSION"));
  const admin = postgres(primary.adminUrl, { max: 1, onnotice: () => {} });
  try {
    const session = await admin.reserve();
    try {
      await session`select pg_backup_start('tusk-test-replica', true)`;
      const copied = await new Deno.Command("cp", { args: ["-a", primaryDir, replicaDir] })
        .output();
      if (!copied.success) throw new Error(new TextDecoder().decode(copied.stderr));
      const [stop] = await session<{ labelfile: string; spcmapfile: string }[]>`
        select labelfile, spcmapfile from pg_backup_stop(true)`;
      for (const name of NOT_COPIED) await Deno.remove(join(replicaDir, name)).catch(() => {});
      const target = new URL(primary.adminUrl);
      const conninfo = `host=127.0.0.1 port=${target.port} user=${
        decodeURIComponent(target.username)
      } password=${decodeURIComponent(target.password)} application_name=tusk-test-replica`;
      const files: [string, string][] = [
        ["backup_label", stop!.labelfile],
        ["standby.signal", ""],
      ];
      if (stop!.spcmapfile) files.push(["tablespace_map", stop!.spcmapfile]);
      for (const [name, text] of files) await Deno.writeTextFile(join(replicaDir, name), text);
      await Deno.writeTextFile(
        join(replicaDir, "postgresql.auto.conf"),
        `primary_conninfo = '${conninfo}'\nhot_standby_feedback = on\n`,
        { append: true },
      );
      if (Deno.uid() === 0) {
        for (const name of [...files.map(([n]) => n), "postgresql.auto.conf"]) {
          await Deno.chown(join(replicaDir, name), owner.uid, owner.gid);
        }
      }
    } finally {
      session.release();
    }
  } finally {
    await admin.end();
  }
  const replicaOptions = { dir: replicaDir, port: replicaPort };
  let replica = await startEmbeddedPostgres(replicaOptions);
  return {
    primary,
    get replica() {
      return replica;
    },
    stopReplica: () => replica.stop(),
    async startReplica() {
      replica = await startEmbeddedPostgres(replicaOptions);
    },
    async [Symbol.asyncDispose]() {
      await replica.stop().catch(() => {});
      await primary.stop().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}
