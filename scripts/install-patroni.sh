#!/usr/bin/env bash
# Installs what `cargo xtask cluster up --db patroni` and `cargo xtask ha --db-failover` need:
# Patroni (which talks to etcd's v3 API through its gRPC gateway, so no python etcd client is
# needed), etcd and PostgreSQL 15 (Debian bookworm packages `patroni`, `etcd-server`,
# `etcd-client`, `postgresql-15`). Run as root (CI is). Does nothing when all are there.
set -euo pipefail

missing=()
command -v patroni >/dev/null 2>&1 || missing+=(patroni)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-patroni: need root to install ${missing[*]}" >&2
    exit 1
fi
echo "install-patroni: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The packages' own services (a default etcd on :2379, a default PostgreSQL cluster, Patroni)
# must not start: the xtask runs its own on other ports under the cluster directory.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    own_policy=1
fi
trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v patroni >/dev/null && command -v etcd >/dev/null && command -v etcdctl >/dev/null
[ -x /usr/lib/postgresql/15/bin/postgres ]
echo "install-patroni: done"
