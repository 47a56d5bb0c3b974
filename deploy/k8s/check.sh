#!/usr/bin/env bash
# Renders every kustomization under deploy/k8s, validates the objects against the Kubernetes
# API schemas offline, and checks them for what docs/deploy.md promises. Installs what it needs
# into target/k8s-tools (kustomize from the Go module proxy, kubernetes-validate from PyPI) on
# the first run. Ends with `k8s: N passed, M failed`; exits non-zero on any failure.
#
#   bash deploy/k8s/check.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
k8s=$root/deploy/k8s
tools=$root/target/k8s-tools
out=$tools/rendered
KUSTOMIZE_VERSION=v5.8.1
# Schema versions to validate against: the oldest Kubernetes we support and the newest the
# validator ships.
K8S_VERSIONS=(1.30.0 1.37.0)

mkdir -p "$tools/bin" "$out"
cd "$k8s"

# ---- tools --------------------------------------------------------------------------------
kustomize=$tools/bin/kustomize
if ! [[ -x $kustomize ]] || ! "$kustomize" version 2>/dev/null | grep -qx "$KUSTOMIZE_VERSION"; then
  echo "check.sh: installing kustomize $KUSTOMIZE_VERSION (go install)"
  command -v go >/dev/null || { echo "check.sh: go is required to install kustomize" >&2; exit 1; }
  GOBIN=$tools/bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
venv=$tools/venv
stamp=$venv/.requirements
if ! [[ -x $venv/bin/kubernetes-validate ]] || ! cmp -s "$k8s/requirements.txt" "$stamp"; then
  echo "check.sh: installing kubernetes-validate into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$k8s/requirements.txt"
  cp "$k8s/requirements.txt" "$stamp"
fi
python=$venv/bin/python

failed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
passed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }

# ---- render -------------------------------------------------------------------------------
rendered=()
for dir in base overlays/*/; do
  dir=${dir%/}
  name=${dir//\//-}
  file=$out/$name.yaml
  if "$kustomize" build "$k8s/$dir" >"$file" 2>"$out/$name.err"; then
    pass "kustomize build $dir"
    rendered+=("$file")
  else
    fail "kustomize build $dir"
    sed 's/^/     /' "$out/$name.err"
  fi
done

# ---- schemas (offline: the schemas ship inside kubernetes-validate) --------------------------
for version in "${K8S_VERSIONS[@]}"; do
  for file in "${rendered[@]}" "$k8s/examples/secrets.example.yaml"; do
    label=$(basename "$file" .yaml)
    if "$venv/bin/kubernetes-validate" --strict --quiet --no-warn -k "$version" "$file" \
        >"$out/validate.log" 2>&1 && ! grep -q ERROR "$out/validate.log"; then
      pass "schema $version: $label"
    else
      fail "schema $version: $label"
      sed 's/^/     /' "$out/validate.log"
    fi
  done
done

# ---- the binaries accept the rendered configs (when they are built) --------------------------
# Each rendered tessera.json is loaded by every service binary (--dump-config: parse, Secret
# values from the environment as in the pods, validation) and enclave.json by the enclave, with
# the key paths pointed at throwaway files. Skipped when no build of the binaries exists.
bindir=
target=${CARGO_TARGET_DIR:-$root/target}
for dir in "$target/debug" "$target/release"; do
  if [[ -x $dir/p2p-node && -x $dir/q2t-api && -x $dir/thirdparty-api && -x $dir/enclave ]]; then
    bindir=$dir
    break
  fi
done
if [[ -z $bindir ]]; then
  echo "SKIP binaries accept the rendered configs (no target/{debug,release} build of the binaries)"
else
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  "$python" - "$scratch" <<'PY'
import base64, json, os, sys
d = sys.argv[1]
open(os.path.join(d, "tm.pub"), "w").write(base64.b64encode(os.urandom(32)).decode())
json.dump({"type": "unlocked", "data": {"bytes": base64.b64encode(os.urandom(32)).decode()}},
          open(os.path.join(d, "tm.key"), "w"))
open(os.path.join(d, "passwords"), "w").write("\n")
PY
  for file in "${rendered[@]}"; do
    label=$(basename "$file" .yaml)
    "$python" - "$file" "$scratch/$label" <<'PY'
import os, sys, yaml
out = sys.argv[2]
os.makedirs(out, exist_ok=True)
for o in yaml.safe_load_all(open(sys.argv[1])):
    if o and o.get("kind") == "ConfigMap":
        for k, v in (o.get("data") or {}).items():
            if k.endswith(".json"):
                open(os.path.join(out, k), "w").write(v)
PY
    for bin in p2p-node q2t-api thirdparty-api; do
      if env -i PATH="$PATH" TESSERA__JDBC__URL=jdbc:postgresql://db.invalid:5432/tm \
          TESSERA__JDBC__USERNAME=tm TESSERA__JDBC__PASSWORD=placeholder \
          "$bindir/$bin" -configfile "$scratch/$label/tessera.json" --dump-config \
          >"$scratch/dump.json" 2>"$scratch/dump.err" &&
          ! grep -q placeholder "$scratch/dump.json"; then
        pass "$label: $bin accepts tessera.json (with the Secret's variables)"
      else
        fail "$label: $bin accepts tessera.json (with the Secret's variables)"
        sed 's/^/     /' "$scratch/dump.err"
      fi
    done
    if "$bindir/enclave" -configfile "$scratch/$label/enclave.json" --dump-config \
        -o "keys.passwordFile=$scratch/passwords" \
        -o "keys.keyData[0].privateKeyPath=$scratch/tm.key" \
        -o "keys.keyData[0].publicKeyPath=$scratch/tm.pub" \
        >"$scratch/dump.json" 2>"$scratch/dump.err"; then
      pass "$label: enclave accepts enclave.json (keys from the Secret mount)"
    else
      fail "$label: enclave accepts enclave.json (keys from the Secret mount)"
      sed 's/^/     /' "$scratch/dump.err"
    fi
  done
fi

# ---- what the issue asks of the objects, and proof that those checks bite -------------------
set +e
"$python" "$k8s/check_objects.py" "${rendered[@]}" >"$out/objects.log" 2>&1
"$python" "$k8s/check_objects.py" --self-test "${rendered[-1]}" >"$out/self-test.log" 2>&1
"$python" "$k8s/check_objects.py" --secret-example "$k8s/examples/secrets.example.yaml" \
  >"$out/secret-example.log" 2>&1
set -e
for log in objects self-test secret-example; do
  grep -E '^(PASS|FAIL|     - )' "$out/$log.log" || true
  summary=$(tail -n 1 "$out/$log.log")
  if [[ $summary =~ ^k8s:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
  else
    fail "check_objects.py ($log) did not finish"
    cat "$out/$log.log"
  fi
done

echo "k8s: $passed passed, $failed failed"
((failed == 0))
