#!/usr/bin/env bash
# Every check the project has, as CI runs it (.ci/run calls this script):
# formatting, a local PostgreSQL for the store tests, clippy, the crate graph in docs/layout.md,
# the whole test suite on SQLite and PostgreSQL (no prior build needed: services run
# in-process), the local cluster, a benchmark smoke run, no system libpq in the binaries, the images under podman, the
# HA proof, the PostgreSQL failover proof, the interop harness, and a short run of every fuzz
# target.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$(date +%s)
step() { echo; echo "== $* ($(($(date +%s) - started))s)"; }

step "cargo fmt --check"
cargo fmt --all --check

if [ -f .ci/postgres.sh ]; then
  step "PostgreSQL for the store tests"
  bash .ci/postgres.sh
fi

step "openssl and keytool for the TLS tests, Patroni and etcd for the failover proof (installed when missing)"
bash scripts/install-tls-tools.sh
bash scripts/install-patroni.sh

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "docs/layout.md: the crate graph matches cargo metadata"
python3 scripts/crate-graph.py --check docs/layout.md

step "k8s manifests: render, offline schema validation, object checks"
bash deploy/k8s/check.sh

step "cargo test"
cargo test --workspace

step "H2 migration: real H2 jar from Maven Central, dump, import-h2 into SQLite and PostgreSQL"
bash scripts/h2-roundtrip.sh

step "local cluster (the README's main job): up, send, status, down"
cluster_dir=target/ci-cluster
trap 'cargo xtask cluster down --dir "$cluster_dir" >/dev/null 2>&1 || true' EXIT
cargo xtask cluster up --nodes 3 --dir "$cluster_dir"
cargo xtask cluster send --dir "$cluster_dir"
cargo xtask cluster status --dir "$cluster_dir"
cargo xtask cluster down --dir "$cluster_dir"
trap - EXIT

step "benchmark smoke run (debug builds, SQLite, 2 s per scenario; fails on errors, not on speed)"
cargo xtask bench --quick --debug --out target/ci-bench

step "the service binaries link no system libpq or OpenSSL (both are built in)"
cargo build --quiet --bins -p tessera
bins="${CARGO_TARGET_DIR:-target}/debug"
for bin in p2p-node q2t-api thirdparty-api enclave tessera; do
  if ldd "$bins/$bin" | grep -E 'libpq|libssl|libcrypto'; then
    echo "ERROR: $bin links a system library a fresh machine may not have" >&2
    exit 1
  fi
done
echo "ldd: no libpq, libssl or libcrypto in p2p-node, q2t-api, thirdparty-api, enclave, tessera"

step "images and manifests under podman: debootstrap base, images, two nodes by podman kube play, probes, enclave policy, send, kill, down"
TM_E2E_PROFILE=debug bash scripts/podman-e2e.sh

step "high availability: replicas behind nginx, then HAProxy (plain and TLS), frozen, then killed and restarted, under load; a keep-alive soak"
# The keep-alive soak (idle connections through a balancer) runs once, behind HAProxy.
cargo xtask ha --lb nginx --soak-seconds 0
cargo xtask ha --lb haproxy
# On TLS: the two interfaces a send crosses between nodes, no soak (CI time).
cargo xtask ha --lb haproxy --tls --interfaces q2t-api,p2p-node --soak-seconds 0

step "PostgreSQL failover: etcd and three PostgreSQL servers under Patroni, the primary killed under load, 0 acknowledged sends lost"
cargo xtask ha --db-failover

step "interop with Java Tessera (SKIPPED when Maven Central does not serve it)"
cargo xtask interop
cargo xtask interop --self-check

step "fuzz smoke run"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
else
  echo "fuzz: SKIPPED (no nightly toolchain on this machine; cargo-fuzz needs it)"
fi

step "all checks passed"
