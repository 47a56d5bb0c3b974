#!/bin/sh
# First start: a cluster in $PGDATA owned by $POSTGRES_USER (password $POSTGRES_PASSWORD,
# SCRAM over TCP), with the database $POSTGRES_DB. Then PostgreSQL in the foreground.
set -eu
: "${PGDATA:?}" "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}"
db=${POSTGRES_DB:-$POSTGRES_USER}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo 'host all all 0.0.0.0/0 scram-sha-256' >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$POSTGRES_USER\";" |
      postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "postgres-entrypoint: initialised $PGDATA (database $db)"
fi
# The socket directory of the component's volume when the runtime made it writable for us
# (Kubernetes: fsGroup), else /tmp (podman mounts a root-owned tmpfs over /run with
# --read-only); the probes and the services use TCP either way.
sock=/var/run/postgresql
[ -w "$sock" ] || sock=/tmp
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$sock"
