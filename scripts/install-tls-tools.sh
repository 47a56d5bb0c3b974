#!/usr/bin/env bash
# Installs what crates/tls's tests need to make key material at test time: `openssl` (PEM keys
# and certificates) and the JDK's `keytool` (JKS and PKCS12 keystores, as Tessera users make
# them). Debian packages; run as root (CI is). Does nothing when both are already there.
set -euo pipefail

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v keytool >/dev/null 2>&1 || missing+=(default-jdk-headless)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-tls-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v openssl >/dev/null && command -v keytool >/dev/null
