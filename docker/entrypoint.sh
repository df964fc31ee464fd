#!/bin/sh
# The image's entry: runs `tusk ROLE ...` (main.ts) under the role's permission
# set from deno.json, with the service name tracing reports for it.
set -eu

role="${1:-serve}"
if [ -z "${DATABASE_URL:-}" ] && [ -z "${POSTGRES_SERVER:-}" ]; then
  echo "tusk: set DATABASE_URL (postgres://user:password@host:5432/db), or the POSTGRES_* variables: this image has no embedded Postgres" >&2
  exit 1
fi

case "$role" in
  serve) set=serve service=tusk-api ;;
  worker) set=worker service=tusk-worker ;;
  scheduler) set=scheduler service=tusk-scheduler ;;
  *) set=cli service=tusk-cli ;;
esac
export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-$service}"

# --cached-only: everything the app needs is in the image; it never downloads at run time.
# --node-modules-dir=manual: node_modules is used as the image holds it. The build removed the
# packages no role loads (Dockerfile); in its default mode Deno would put them back at start.
# --quiet: without it Deno warns on every start that permission sets in deno.json are
# experimental, which says nothing about this app (its own output is unaffected).
exec deno run --quiet --cached-only --node-modules-dir=manual --unstable-no-legacy-abort \
  -P="$set" /app/main.ts "$@"
