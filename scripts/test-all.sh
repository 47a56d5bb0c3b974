#!/usr/bin/env bash
# Every check the project has, as CI runs it (.ci/run calls this script):
# formatting, a local PostgreSQL for the store tests, clippy, the whole test suite on SQLite and
# PostgreSQL, and a short run of every fuzz target.
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

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --bins (integration tests start the service binaries)"
cargo build --workspace --bins

step "cargo test"
cargo test --workspace

step "fuzz smoke run"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
else
  echo "fuzz: SKIPPED (no nightly toolchain on this machine; cargo-fuzz needs it)"
fi

step "all checks passed"
