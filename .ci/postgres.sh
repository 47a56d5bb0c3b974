#!/usr/bin/env bash
# The PostgreSQL server the store tests and benchmarks use (crates/store):
#   127.0.0.1:55432 only, role "tm" / password "tm-test-pw" (CREATEDB), database "tm",
#   i.e. TM_TEST_POSTGRES_URL's default postgres://tm:tm-test-pw@127.0.0.1:55432/tm.
# The cluster lives in target/pgdata and runs as the "postgres" system user (postgres refuses
# to run as root). Installs PostgreSQL from Debian packages when missing (the services link
# no system libpq: it is compiled in).
#
# Usage: bash .ci/postgres.sh [start|stop|restart|status]   (default: start)
# "start" is idempotent: a server already running is left alone (role and database are
# still ensured).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGDATA="${TM_PGDATA:-$ROOT/target/pgdata}"
PORT="${TM_PG_PORT:-55432}"
ROLE=tm
PASSWORD=tm-test-pw
DATABASE=tm
# The socket path must stay under ~100 bytes whatever the checkout path; the port keeps it
# unique.
SOCKET_DIR=/tmp
OS_USER=postgres

log() { echo "postgres.sh: $*" >&2; }

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$OS_USER" -- "$@"
    else
        "$@"
    fi
}

find_bindir() {
    local candidate
    for candidate in "$(command -v pg_ctl 2>/dev/null || true)" \
        $(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V -r); do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            candidate="$(readlink -f "$candidate")"
            if [ -x "$(dirname "$candidate")/initdb" ]; then
                dirname "$candidate"
                return 0
            fi
        fi
    done
    return 1
}

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        log "need root to install $*"
        exit 1
    fi
    log "installing $* from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
}

ensure_installed() {
    if ! BINDIR="$(find_bindir)"; then
        apt_install postgresql postgresql-client
        BINDIR="$(find_bindir)" || { log "PostgreSQL binaries not found after install"; exit 1; }
    fi
    if ! id "$OS_USER" >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then
            useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$OS_USER"
        else
            OS_USER="$(id -un)"
        fi
    fi
}

# The cluster stays under target/ unless the postgres user cannot reach it there (a checkout
# inside a private home directory); then it moves to a directory derived from the checkout path.
choose_pgdata() {
    if [ -n "${TM_PGDATA:-}" ] || [ "$(id -u)" -ne 0 ]; then
        return 0
    fi
    mkdir -p "$(dirname "$PGDATA")"
    if ! runuser -u "$OS_USER" -- test -x "$(dirname "$PGDATA")"; then
        local fallback
        fallback="/var/lib/postgresql/tm-pgdata-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
        log "$OS_USER cannot reach $(dirname "$PGDATA"); using $fallback"
        mkdir -p "$(dirname "$fallback")"
        PGDATA="$fallback"
    fi
}

is_running() {
    [ -f "$PGDATA/PG_VERSION" ] && as_postgres "$BINDIR/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

init_cluster() {
    if [ -f "$PGDATA/PG_VERSION" ]; then
        return 0
    fi
    log "initialising cluster in $PGDATA"
    mkdir -p "$PGDATA"
    chown "$OS_USER" "$PGDATA"
    chmod 700 "$PGDATA"
    as_postgres "$BINDIR/initdb" -D "$PGDATA" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    cat >>"$PGDATA/postgresql.conf" <<EOF
# .ci/postgres.sh: loopback only, on a port of its own.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKET_DIR'
max_connections = 200
EOF
}

start_server() {
    if is_running; then
        log "already running ($PGDATA)"
        return 0
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        log "port $PORT is taken by another server (another checkout's target/pgdata?):" \
            "stop it, or set TM_PG_PORT and TM_TEST_POSTGRES_URL"
        exit 1
    fi
    init_cluster
    chown -R "$OS_USER" "$PGDATA"
    log "starting on 127.0.0.1:$PORT"
    as_postgres "$BINDIR/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >/dev/null
}

ensure_role_and_database() {
    local psql=("$BINDIR/psql" -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
    "${psql[@]}" <<EOF
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
EOF
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != "1" ]; then
        "${psql[@]}" -c "CREATE DATABASE $DATABASE OWNER $ROLE"
    fi
}

stop_server() {
    if is_running; then
        log "stopping"
        as_postgres "$BINDIR/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    else
        log "not running"
    fi
}

ensure_installed
choose_pgdata
case "${1:-start}" in
    start)
        start_server
        ensure_role_and_database
        ;;
    stop)
        stop_server
        ;;
    restart)
        stop_server
        start_server
        ensure_role_and_database
        ;;
    status)
        if is_running; then echo running; else echo stopped; exit 3; fi
        ;;
    *)
        log "usage: $0 [start|stop|restart|status]"
        exit 2
        ;;
esac
