#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain (cargo-fuzz builds with sanitizers); installs cargo-fuzz from
# crates.io when it is missing. A crash stops the run, leaves the input under
# fuzz/artifacts/<target>/, and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(legacy_payload cbor_payload party_info privacy_group)
fi
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: the nightly toolchain is not installed (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
for target in "${targets[@]}"; do
  echo "fuzz: $target for ${seconds}s"
  mkdir -p "fuzz/corpus/$target"
  cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 |
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Done)' || true
  # cargo fuzz exits non-zero on a crash; with pipefail that fails the script above only if grep
  # also fails, so check for artifacts explicitly.
  if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "fuzz: $target FAILED, inputs in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran ${seconds}s without a crash"
