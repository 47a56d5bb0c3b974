#!/usr/bin/env bash
# The images and the Kubernetes manifests, run for real with podman (docs/deploy.md "Podman
# run"): builds a Debian base with debootstrap (cached), the four service images from the
# release build and the dev PostgreSQL image; renders deploy/podman/overlays/node{1,2} (the
# example overlays plus what a cluster would give the pods) and plays them with
# `podman kube play`; checks every probe as a kubelet would, the enclave NetworkPolicy's intent
# from inside every pod, a send from node 1 to node 2 through q2t-api's published port,
# received on node 2; kills a replica of each of two services, watches them come back and sends
# again; then `podman kube down` and removes what it made. Fails on the first failing step;
# cleans up on any exit.
#
#   sudo bash scripts/podman-e2e.sh        (CI runs as root; so must you: rootful podman)
#
# Installs what it needs (Debian's podman, runc, debootstrap, python3-yaml; kustomize through
# the Go module proxy as deploy/k8s/check.sh does) and writes /etc/containers/containers.conf.
# Environment: TM_E2E_PROFILE=release (default) or debug: which cargo build the images take;
# TM_E2E_KEEP=1 leaves the pods running for a look (then run it again to clean);
# TM_DEBIAN_MIRROR: the mirror debootstrap uses (default deb.debian.org).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
cache=$target/podman                 # the debootstrap base (kept between runs), the contexts
work=$cache/run                      # this run's keys, renderings, plans (removed at the end)
helper=$root/deploy/podman/kube-to-podman.py
KUSTOMIZE_VERSION=v5.8.1             # as deploy/k8s/check.sh
SUITE=bookworm
MIRROR=${TM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=localhost/tm/debian-base:$SUITE
TAG=0.1.0
SERVICES=(p2p-node q2t-api thirdparty-api enclave)
NODES=(1 2)
started=$(date +%s)
passed=0
step() { echo; echo "== podman-e2e: $* ($(($(date +%s) - started))s)"; }
ok() { echo "PASS $*"; passed=$((passed + 1)); }
die() { echo "FAIL $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (rootful podman, packages, /etc/containers)"

# ---- tools and podman's configuration ------------------------------------------------------
step "packages and podman configuration"
missing=()
for cmd in podman:podman runc:runc debootstrap:debootstrap nsenter:util-linux curl:curl; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || missing+=("${cmd#*:}")
done
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# crun refuses this machine's cgroup layout and raising rlimits is not permitted here; no
# systemd, so cgroupfs and file events.
conf=/etc/containers/containers.conf
want='# Written by scripts/podman-e2e.sh (docs/deploy.md "Podman run").
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  [ -f "$conf" ] && cp "$conf" "$conf.before-podman-e2e"
  mkdir -p /etc/containers
  printf '%s\n' "$want" >"$conf"
fi
podman --version
kustomize=$target/k8s-tools/bin/kustomize
if ! [[ -x $kustomize ]] || ! "$kustomize" version 2>/dev/null | grep -qx "$KUSTOMIZE_VERSION"; then
  echo "installing kustomize $KUSTOMIZE_VERSION (go install)"
  command -v go >/dev/null || die "go is required to install kustomize"
  GOBIN=$target/k8s-tools/bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

# ---- teardown: on every exit, and before starting (a previous run killed half-way) ----------
down_all() {   # podman kube down of every file played, then the volumes their pods used
  local files=("$work"/split-*/*.yaml) vols=() f rc=0
  [ -e "${files[0]}" ] || return 0
  # emptyDir and ConfigMap volumes (named volumes in podman 4.3), from the plans
  vols=($(python3 -c 'import json,sys
for p in sys.argv[1:]: print(*json.load(open(p))["volumes"])' "$work"/split-*/plan.json))
  for f in "${files[@]}"; do
    # (podman 4.3 also tries to remove the pods' volumes, and complains about the ones the
    # next replica still uses: the errors go to the log, the volumes are removed below.)
    podman kube down "$f" >>"$work/down.log" 2>&1 || { rc=1; echo "podman kube down $f failed" >&2; }
  done
  [ ${#vols[@]} -eq 0 ] || podman volume rm -f "${vols[@]}" >/dev/null 2>&1 || true
  return $rc
}
teardown() {
  down_all 2>/dev/null || true
  for n in "${NODES[@]}"; do
    podman secret rm "tm-node$n-tm-db" >/dev/null 2>&1 || true
    podman network rm -f "tm-node$n" "tm-node$n-tm-enclave" >/dev/null 2>&1 || true
  done
  podman network rm -f tm-e2e-cluster >/dev/null 2>&1 || true
  rm -rf "$work"
}
on_exit() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "podman-e2e: FAILED (exit $rc) after $(($(date +%s) - started))s; pods and last logs:" >&2
    podman pod ps >&2 || true
    podman ps -a --format '{{.Names}} {{.Status}}' >&2 || true
    for ctr in $(podman ps -a --format '{{.Names}}' --filter name=^tm-node 2>/dev/null); do
      echo "--- $ctr" >&2
      podman logs --tail 15 "$ctr" >&2 2>&1 || true
    done
  fi
  if [ -n "${TM_E2E_KEEP:-}" ] && [ $rc -eq 0 ]; then
    echo "podman-e2e: TM_E2E_KEEP set: pods left running; run again to clean up"
  else
    teardown
  fi
  exit $rc
}
teardown
trap on_exit EXIT
mkdir -p "$work"

# ---- binaries: the release build outside the container --------------------------------------
# TM_E2E_PROFILE=debug takes the debug build instead (test-all.sh: cargo test has built it
# already, where a release build would cost minutes); the images are then larger and slower.
profile=${TM_E2E_PROFILE:-release}
step "cargo build --profile $profile (the binaries the images take)"
case $profile in
  release) flags=(--release); bins=$target/release ;;
  debug) flags=(); bins=$target/debug ;;
  *) die "TM_E2E_PROFILE: release or debug, not $profile" ;;
esac
cargo build "${flags[@]}" --locked --bins -p p2p-node -p q2t-api -p thirdparty-api -p tm-enclave -p tessera

# ---- the base: debootstrap minbase, imported; cached ----------------------------------------
step "base image $BASE"
base_tar=$cache/base-$SUITE.tar
if podman image exists "$BASE"; then
  echo "reusing $BASE"
else
  if ! [ -s "$base_tar" ]; then
    rootfs=$cache/rootfs-$SUITE
    rm -rf "$rootfs"
    mkdir -p "$cache"
    t0=$(date +%s)
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$cache/debootstrap.log" 2>&1 ||
      { tail -20 "$cache/debootstrap.log"; die "debootstrap"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -cf "$base_tar.tmp" .
    mv "$base_tar.tmp" "$base_tar"
    rm -rf "$rootfs"
    echo "debootstrap: $(($(date +%s) - t0))s"
  fi
  podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' "$base_tar" "$BASE" >/dev/null
fi
ok "base image $BASE ($(podman image inspect --format '{{.Size}}' "$BASE" | awk '{printf "%.0f MiB", $1/1048576}'))"

# ---- images ---------------------------------------------------------------------------------
step "images (deploy/Containerfile, prebuilt binaries; deploy/podman/dev-postgres.Containerfile)"
ctx=$cache/context
rm -rf "$ctx"
mkdir -p "$ctx/bin"
for b in "${SERVICES[@]}"; do
  strip -o "$ctx/bin/$b" "$bins/$b"
done
for t in "${SERVICES[@]}"; do
  podman build -q -f deploy/Containerfile --build-arg BASE="$BASE" --build-arg BINARIES=prebuilt \
    --target "$t" -t "tm/$t:$TAG" "$ctx" >/dev/null
done
# The binaries change with every commit: the stages that held the previous ones, and the images
# these builds replaced, would pile up run after run (all labelled by deploy/Containerfile).
podman image prune -f --filter label=tm.containerfile=deploy/Containerfile >/dev/null
podman build -q -f deploy/podman/dev-postgres.Containerfile --build-arg BASE="$BASE" \
  -t "tm/dev-postgres:$TAG" deploy/podman >/dev/null
for t in "${SERVICES[@]}" dev-postgres; do
  size=$(podman image inspect --format '{{.Size}}' "tm/$t:$TAG")
  user=$(podman image inspect --format '{{.Config.User}}' "tm/$t:$TAG")
  echo "image tm/$t:$TAG: $((size / 1048576)) MiB, user $user"
done
for t in "${SERVICES[@]}"; do
  if podman run --rm --entrypoint /bin/sh "tm/$t:$TAG" -c true >/dev/null 2>&1; then
    die "tm/$t has a shell"
  fi
  [ "$(podman image inspect --format '{{.Config.User}}' "tm/$t:$TAG")" = 65532:65532 ] ||
    die "tm/$t does not run as 65532"
done
ok "images built: non-root (65532), no shell"

# ---- keys and Secrets (what an operator makes with kubectl create secret) --------------------
step "keys (tessera -keygen) and Secrets"
for n in "${NODES[@]}"; do
  ns=tm-node$n
  dir=$work/keys/$ns/tm-enclave-keys
  mkdir -p "$dir"
  "$bins/tessera" -keygen -filename "$dir/tm" </dev/null >/dev/null
  printf '\n' >"$dir/passwords"
  # A Secret volume: files 0440, group 65532 (defaultMode and fsGroup of the Deployment).
  chown -R 0:65532 "$work/keys/$ns"
  chmod 0750 "$work/keys" "$work/keys/$ns" "$dir"
  chmod 0440 "$dir"/*
  # tm-db, in podman 4.3's form for secretKeyRef: a JSON map of key to base64 value.
  python3 - "$ns" <<'PY' | podman secret create "$ns-tm-db" - >/dev/null
import base64, json, secrets, sys
pw = secrets.token_hex(24)
v = {"url": "jdbc:postgresql://tm-postgres:5432/tm", "username": "tm", "password": pw,
     "migrate-username": "tm", "migrate-password": pw}
print(json.dumps({k: base64.b64encode(s.encode()).decode() for k, s in v.items()}))
PY
done
ok "keys for both nodes, Secrets tm-node{1,2}-tm-db"

# ---- render, convert, play ------------------------------------------------------------------
step "kustomize build deploy/podman/overlays/node{1,2}; podman kube play"
plans=()
plays=()           # "deployment component file --network ..." per Deployment, both nodes
for n in "${NODES[@]}"; do
  ns=tm-node$n
  "$kustomize" build "deploy/podman/overlays/node$n" >"$work/rendered-$ns.yaml"
  while IFS=$'\t' read -r dep comp file nets; do
    plays+=("$dep $comp $file $nets")
  done < <(python3 "$helper" split "$work/rendered-$ns.yaml" "$work/split-$ns" --keys "$work/keys")
  plans+=("$work/split-$ns/plan.json")
done
for net in $(python3 -c 'import json,sys
seen=[]
for p in sys.argv[1:]:
    for n in json.load(open(p))["networks"]:
        if n not in seen: seen.append(n); print(n)' "${plans[@]}"); do
  podman network create --opt isolate=true "$net" >/dev/null
done
play() {   # play every Deployment of one component, both nodes
  local line dep comp file nets
  for line in "${plays[@]}"; do
    read -r dep comp file nets <<<"$line"
    [ "$comp" = "$1" ] || continue
    # podman runs an init container once and gives up when it fails; the kubelet would retry
    # it with back-off: so do we, twice.
    local try=1
    # shellcheck disable=SC2086  # nets holds several --network options
    until podman kube play $nets "$file" >"$work/play-$dep.log" 2>&1; do
      cat "$work/play-$dep.log"
      for ctr in $(podman ps -a --format '{{.Names}}' --filter "name=^$dep-pod-"); do
        echo "--- $ctr"; podman logs --tail 5 "$ctr" 2>&1 || true
      done
      [ $try -lt 3 ] || die "podman kube play $dep"
      echo "podman kube play $dep failed: again in 5 s (attempt $((try += 1)) of 3)"
      podman kube down "$file" >/dev/null 2>&1 || true
      sleep 5
    done
    echo "played $dep: pods $(podman pod ps --format '{{.Name}}' --filter "name=^$dep-pod-" | sort | tr '\n' ' ')"
  done
}
# PostgreSQL, then the enclaves, then the services: podman runs an init container once, where
# Kubernetes retries the migration until PostgreSQL answers.
play dev-postgres
python3 "$helper" probe "${plans[@]}" --only dev-postgres --wait 90 || die "PostgreSQL not ready"
play enclave
python3 "$helper" probe "${plans[@]}" --only enclave --wait 60 || die "enclaves not ready"
for comp in p2p-node q2t-api thirdparty-api; do play "$comp"; done

step "probes, as the kubelet runs them (from the host, to each pod's address)"
python3 "$helper" probe "${plans[@]}" --wait 120 | tee "$work/probes.txt"
[ "${PIPESTATUS[0]}" = 0 ] || die "probes"
ok "all startup, readiness and liveness probes pass ($(grep -c '^PASS' "$work/probes.txt") probe runs)"
for ctr in $(podman ps --format '{{.Names}}' --filter name=^tm-node); do
  ro=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}' "$ctr")
  [[ $ro == true\ * ]] || die "$ctr: root file system not read-only ($ro)"
done
ok "every container runs with a read-only root file system"

step "enclave NetworkPolicy: who can reach the enclaves (from inside every pod)"
python3 "$helper" isolation "${plans[@]}" | tee "$work/isolation.txt"
[ "${PIPESTATUS[0]}" = 0 ] || die "enclave reachability differs from the NetworkPolicy"
ok "only each node's own p2p-node, q2t-api and thirdparty-api reach its enclave"

# ---- the send -------------------------------------------------------------------------------
q2t1=http://127.0.0.1:19101
q2t2=http://127.0.0.1:29101
key2=$(cat "$work/keys/tm-node2/tm-enclave-keys/tm.pub")
send_and_receive() {   # $1: label. Node 1 -> node 2 through q2t-api's published port.
  local payload hash body deadline=$((SECONDS + 90)) code=
  payload=$(head -c 48 /dev/urandom | base64 -w0)
  body=$(printf '{"payload":"%s","to":["%s"]}' "$payload" "$key2")
  # Node 1 learns node 2's key by party info (every 5 s); until then the send is refused.
  while :; do
    code=$(curl -s -o "$work/send.json" -w '%{http_code}' -H 'Content-Type: application/json' \
      -d "$body" "$q2t1/send" || true)
    [ "$code" = 201 ] && break
    [ $SECONDS -lt $deadline ] || { cat "$work/send.json"; die "$1: POST /send answered $code"; }
    sleep 2
  done
  hash=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$work/send.json")
  enc=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$hash")
  got=$(curl -sf "$q2t2/transaction/$enc" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["payload"])') ||
    die "$1: GET /transaction on node 2"
  [ "$got" = "$payload" ] || die "$1: node 2 returned another payload"
  ok "$1: POST $q2t1/send -> 201 $hash; GET $q2t2/transaction/... on node 2 -> the payload"
}
step "send from node 1 to node 2"
send_and_receive "send"

# ---- a replica killed ------------------------------------------------------------------------
step "kill replicas: node 1's q2t-api (the published one) and one of node 2's p2p-node"
kill_and_watch() {   # $1: container. Its process SIGKILLed, as by a crash or the OOM killer.
  # (Not `podman kill`: podman never restarts a container its user stopped.)
  local ctr=$1 before after deadline=$((SECONDS + 60))
  before=$(podman inspect --format '{{.RestartCount}} {{.State.Pid}}' "$ctr")
  kill -KILL "${before#* }"
  while :; do
    after=$(podman inspect --format '{{.RestartCount}} {{.State.Pid}} {{.State.Status}}' "$ctr")
    [[ ${after% *} != "$before" && $after == *running ]] && break
    [ $SECONDS -lt $deadline ] || die "$ctr not restarted after SIGKILL ($before -> $after)"
    sleep 1
  done
  ok "$ctr: process killed (SIGKILL), restarted by podman (restartPolicy): restarts/pid $before -> ${after% *}"
}
kill_and_watch tm-node1-tm-q2t-api-pod-0-q2t-api
kill_and_watch tm-node2-tm-p2p-node-pod-1-p2p-node
python3 "$helper" probe "${plans[@]}" --wait 60 >"$work/probes-after.txt" ||
  { cat "$work/probes-after.txt"; die "probes after the kills"; }
ok "probes pass again after the kills"
send_and_receive "send after the kills"

# ---- down -----------------------------------------------------------------------------------
step "podman kube down"
if [ -z "${TM_E2E_KEEP:-}" ]; then
  down_all || { cat "$work/down.log"; die "podman kube down"; }
  left=$(podman pod ps -q --filter name=^tm-node | wc -l)
  [ "$left" = 0 ] || die "$left pods left after kube down"
  left=$(podman volume ls -q --filter name=^tm-node | wc -l)
  [ "$left" = 0 ] || die "$left volumes left after kube down"
  ok "podman kube down: no pod and no volume left"
fi
echo "podman-e2e: $passed passed, 0 failed ($(($(date +%s) - started))s)"
