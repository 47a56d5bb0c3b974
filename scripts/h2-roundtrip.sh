#!/usr/bin/env bash
# The H2 migration with the real H2 (docs/h2-migration.md): fetches H2's jar from Maven Central
# with Maven, then runs crates/tessera/tests/h2.rs, which creates a database with Tessera's H2
# DDL and rows written through H2, dumps it with H2's Script tool, imports it with
# `tessera import-h2` into SQLite (twice) and PostgreSQL, and receives every transaction
# through the Q2T API.
#
# Needs Java (11+) and Maven: installed from Debian packages when missing and running as root
# (CI is); otherwise it says what to install. PostgreSQL must be running: bash .ci/postgres.sh.
#
# H2_VERSION picks the jar (default 2.2.224, an H2 2.x like the one Tessera 2x ships; a
# database file must be dumped with the H2 major version that wrote it).
set -euo pipefail
cd "$(dirname "$0")/.."

H2_VERSION="${H2_VERSION:-2.2.224}"
OUT=target/h2

missing=()
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "h2-roundtrip: missing ${missing[*]} (java and mvn): install them, e.g." \
            "sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "h2-roundtrip: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v java >/dev/null && command -v mvn >/dev/null

jar="$OUT/h2-$H2_VERSION.jar"
if [ ! -f "$jar" ]; then
    echo "h2-roundtrip: fetching com.h2database:h2:$H2_VERSION from Maven Central"
    mvn -q -B dependency:copy \
        -Dartifact="com.h2database:h2:$H2_VERSION" \
        -DoutputDirectory="$OUT"
fi
test -f "$jar"

TM_H2_JAR="$(pwd)/$jar" cargo test -p tessera --test h2 -- --ignored --nocapture
