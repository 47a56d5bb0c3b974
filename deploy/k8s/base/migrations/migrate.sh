#!/bin/sh
# Init container of every service Deployment (deploy/k8s, docs/deploy.md "Migrations").
#
# Applies the PostgreSQL migrations beside this script (copies of migrations/postgres/*/up.sql,
# kept identical by deploy/k8s/check.sh) exactly as the services would with
# jdbc.autoCreateTables=true (crates/store/src/pool.rs): one transaction holding
# pg_advisory_xact_lock(0x746d5f6d69677261, "tm_migra"), diesel's own version table, each
# migration run once. Pods starting together wait on the lock; later ones find nothing pending.
# The services then start with autoCreateTables=false and see the tables diesel expects.
#
# Needs: psql (the postgres image), TM_JDBC_URL (jdbc:postgresql://host[:port][,host2]/db
# [?libpq params such as sslmode]), TM_MIGRATE_USERNAME, TM_MIGRATE_PASSWORD.
set -eu
dir=$(dirname "$0")
url=${TM_JDBC_URL#jdbc:}
case "$url" in
  postgresql://*) ;;
  *) echo "tm-migrate: jdbc url must be jdbc:postgresql://host[:port]/database" >&2; exit 1 ;;
esac
export PGUSER="$TM_MIGRATE_USERNAME" PGPASSWORD="$TM_MIGRATE_PASSWORD"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}" PGAPPNAME=tm-migrate

script() {
  line() { printf '%s\n' "$1"; }
  line 'SET client_min_messages = warning;'
  line 'BEGIN;'
  # The key the services use (MIGRATION_LOCK_KEY = 0x746d5f6d69677261).
  line 'SELECT pg_advisory_xact_lock(8389754676633264737) AS locked \gset'
  # diesel's CREATE_MIGRATIONS_TABLE, verbatim.
  line 'CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);'
  for file in "$dir"/*.up.sql; do
    name=$(basename "$file" .up.sql)
    version=${name%%_*}   # diesel: the directory name up to the first '_'
    line "SELECT NOT EXISTS (SELECT 1 FROM __diesel_schema_migrations WHERE version = '$version') AS pending \\gset"
    line '\if :pending'
    line "\\echo tm-migrate: applying $name"
    line "\\i $file"
    line "INSERT INTO __diesel_schema_migrations (version) VALUES ('$version');"
    line '\else'
    line "\\echo tm-migrate: $name already applied"
    line '\endif'
  done
  line 'COMMIT;'
}

# Retry while the database cannot be reached yet (psql exit status 2: a fresh cluster starts it
# beside us); an error in the SQL (status 1 or 3) fails at once.
attempt=1
while :; do
  status=0
  script | psql -X -q -v ON_ERROR_STOP=1 -d "$url" -f - || status=$?
  if [ "$status" -eq 0 ]; then
    echo "tm-migrate: schema up to date"
    exit 0
  fi
  if [ "$status" -ne 2 ] || [ "$attempt" -ge "${TM_MIGRATE_ATTEMPTS:-60}" ]; then
    echo "tm-migrate: failed (psql status $status, attempt $attempt)" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done
