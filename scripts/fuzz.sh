#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each), or for a number of executions.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh --runs N [TARGET...]       (libFuzzer's -runs=N: N executions per target)
# Targets: the decoders (legacy_payload, cbor_payload, party_info, privacy_group) and one per
# P2P endpoint body over the route's whole path against an in-memory node (p2p_*; see
# fuzz/src/lib.rs). Each runs in one process on one core. Seed inputs are written into
# fuzz/corpus/<target>/ by the target itself at start.
# FUZZ_LOG_DIR=DIR keeps each target's whole libFuzzer output in DIR/<target>.log (otherwise it
# goes to a temporary folder, and only a failing target's last lines are shown).
# Needs the nightly toolchain (cargo-fuzz builds with sanitizers); installs cargo-fuzz from
# crates.io when it is missing. A crash or a broken invariant stops the run, leaves the input
# under fuzz/artifacts/<target>/, and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
runs=""
if [ "${1:-}" = "--runs" ]; then
  runs="${2:?--runs needs a number}"
  shift 2
elif [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(legacy_payload cbor_payload party_info privacy_group
    p2p_partyinfo p2p_partyinfo_validate p2p_push p2p_resend p2p_resend_batch p2p_push_batch
    p2p_push_privacy_group)
fi
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: the nightly toolchain is not installed (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
if [ -n "$runs" ]; then
  bound=(-runs="$runs")
  what="$runs executions"
else
  bound=(-max_total_time="$seconds")
  what="${seconds}s"
fi
log_dir="${FUZZ_LOG_DIR:-}"
if [ -z "$log_dir" ]; then
  log_dir="$(mktemp -d)"
  trap 'rm -rf "$log_dir"' EXIT
fi
mkdir -p "$log_dir"
for target in "${targets[@]}"; do
  echo "fuzz: $target for $what"
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  before="$(ls -1 "fuzz/artifacts/$target")"
  log="$log_dir/$target.log"
  # -timeout: an input that waits (on the network, a lock) is a finding, not a slow run.
  # The endpoint targets run thread pools (tokio's blocking pool, r2d2's for the store they
  # rebuild every few thousand inputs); a pool thread that starts during an input is reported
  # by LeakSanitizer as that input's leak (seen twice in p2p_push: scheduled_thread_pool and
  # __cxa_thread_atexit_impl allocations), so leak detection is off for them and on for the
  # decoders.
  leaks=()
  case "$target" in
    p2p_*) leaks=(-detect_leaks=0) ;;
  esac
  set +e
  cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
    "${bound[@]}" "${leaks[@]}" -max_len=4096 -timeout=10 -print_final_stats=1 2>&1 |
    tee "$log" |
    grep -E '^(#[0-9]+.*DONE|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|==[0-9]+==|SUMMARY|Done|thread .* panicked|artifact_prefix|Test unit written)'
  status="${PIPESTATUS[0]}"
  set -e
  after="$(ls -1 "fuzz/artifacts/$target")"
  if [ "$status" -ne 0 ] || [ "$before" != "$after" ]; then
    echo "fuzz: $target FAILED (exit $status), inputs in fuzz/artifacts/$target/; the last lines:" >&2
    tail -n 40 "$log" >&2
    df -h . >&2
    exit 1
  fi
done
echo "fuzz: all targets ran $what without a crash"
