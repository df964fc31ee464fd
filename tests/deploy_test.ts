import assert from "node:assert/strict";
import { parse } from "yaml";
import { CONFIG_VARIABLES } from "../config.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  restart?: string;
  profiles?: string[];
  ports?: string[];
  container_name?: string;
  env_file?: { path: string; required: boolean }[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

/** compose.yaml as Compose reads it: merge keys applied, `${VAR:-default}` at its default. */
async function compose(): Promise<{ services: Record<string, Service>; volumes: object }> {
  const text = (await read("compose.yaml")).replace(
    /\$\{([A-Z_]+):-([^}]*)\}/g,
    (_, _name, fallback) => fallback,
  );
  return parse(text, { merge: true });
}

Deno.test("compose.yaml: Postgres, a one-shot migrate the others wait for, api, worker, scheduler, and two profiles", async () => {
  const { services, volumes } = await compose();
  assert.deepEqual(Object.keys(services).sort(), [
    "api",
    "jaeger",
    "mailpit",
    "migrate",
    "postgres",
    "scheduler",
    "worker",
  ]);
  const pg = services.postgres!;
  assert.match(pg.image!, /^postgres:\d+$/, "a pinned major version");
  assert.match(pg.healthcheck!.test.join(" "), /pg_isready/);
  const [volume] = pg.volumes!;
  assert.ok(volume!.split(":")[0]! in volumes, "a named volume");

  assert.deepEqual(services.migrate!.command, ["migrate"]);
  assert.equal(services.migrate!.restart, "no");
  assert.deepEqual(services.migrate!.depends_on, { postgres: { condition: "service_healthy" } });
  for (const role of ["api", "worker", "scheduler"]) {
    const s = services[role]!;
    assert.deepEqual(s.command, [role === "api" ? "serve" : role]);
    assert.equal(s.build, ".", `${role} is built from the Dockerfile`);
    assert.equal(s.image, services.migrate!.image, `${role} runs the same image as migrate`);
    assert.deepEqual(s.depends_on, {
      migrate: { condition: "service_completed_successfully" },
    });
    assert.equal(s.profiles, undefined, `${role} runs without a profile`);
    assert.deepEqual(s.env_file, [{ path: ".env", required: false }], "works without a .env");
    assert.ok(s.volumes!.some((v) => v.endsWith(":/app/.data")), `${role} shares the data volume`);
  }
  assert.deepEqual(services.api!.ports, ["127.0.0.1:8000:8000"], "loopback unless asked");
  assert.equal(services.api!.environment!.ENVIRONMENT, "production", "placeholders refused");
  for (const peer of ["mailpit", "jaeger"]) {
    assert.ok(services[peer]!.ports!.every((p) => p.startsWith("127.0.0.1:")), peer);
  }
  assert.match(services.api!.healthcheck!.test.join(" "), /readyz/);
  assert.equal(services.worker!.ports, undefined, "no ports, so --scale worker=3 works");
  assert.equal(services.worker!.container_name, undefined);
  assert.deepEqual(services.mailpit!.profiles, ["mail"]);
  assert.deepEqual(services.jaeger!.profiles, ["observability"]);
});

Deno.test("compose.yaml sets only variables Tusk reads, pointing at its own services", async () => {
  const { services } = await compose();
  const env = services.api!.environment!;
  for (const name of Object.keys(env)) {
    assert.ok(
      CONFIG_VARIABLES.includes(name) || name.startsWith("OTEL_"),
      `${name} is not a Tusk setting`,
    );
  }
  assert.equal(new URL(env.DATABASE_URL!).hostname, "postgres");
  assert.equal(new URL(env.OTEL_EXPORTER_OTLP_ENDPOINT!).hostname, "jaeger");
  assert.equal(env.SMTP_HOST, "mailpit");
  assert.equal(
    env.PARQUET_DATA_PATH,
    "/app/.data/parquet",
    "the worker writes where the API reads",
  );
});

Deno.test("the image's entrypoint runs each role under a permission set deno.json defines", async () => {
  const entrypoint = await read("docker/entrypoint.sh");
  const sets = Object.keys(JSON.parse(await read("deno.json")).permissions);
  const used = [...entrypoint.matchAll(/\bset=([a-z]+)/g)].map((m) => m[1]!);
  assert.deepEqual([...new Set(used)].sort(), ["cli", "scheduler", "serve", "worker"]);
  for (const set of used) assert.ok(sets.includes(set), `no permission set ${set}`);
  const dockerfile = await read("Dockerfile");
  assert.match(dockerfile, /^ARG DENO_IMAGE=denoland\/deno:debian-\d+\.\d+\.\d+$/m);
  assert.match(dockerfile, /^USER tusk$/m, "not root");
  assert.match(dockerfile, /^CMD \["serve"\]$/m);
  assert.match(dockerfile, /deno install --frozen/);
  const ignored = (await read(".dockerignore")).split("\n");
  for (const dir of [".data/", "node_modules/", "tmp/", "coverage/", ".git/"]) {
    assert.ok(ignored.includes(dir), `.dockerignore leaves out ${dir}`);
  }
});
