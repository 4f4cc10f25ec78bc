#!/usr/bin/env bash
# Installs what tests/ecosystem.rs needs on a fresh Debian machine, then
# checks it. Safe to run again: whatever is already there is kept.
#
#   tests/ecosystem/install.sh
#   cargo test --test ecosystem -- --ignored
#
# System packages: curl, nginx, chromium, postgresql, python3 with venv (apt-get).
# Python packages: tests/ecosystem/requirements.txt, in tests/ecosystem/.venv.
# nginx is only installed here: the tests run their own nginx process on a
# loopback port with their own configuration, never the system service;
# likewise PostgreSQL: the test makes its own cluster in a temp dir with
# initdb and pg_ctl, and policy-rc.d keeps apt from starting the service.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi

have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing=()
have curl || missing+=(curl)
have nginx || missing+=(nginx)
have chromium || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
if ! have python3 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    # No service starts on install (the tests start their own processes).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
        trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
fi

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    echo "== python3 -m venv $venv"
    python3 -m venv "$venv"
fi
echo "== pip install -r requirements.txt"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$here/requirements.txt"

echo "== installed"
curl --version | head -n 1
PATH="$PATH:/usr/sbin:/sbin" nginx -v 2>&1
chromium --version 2>/dev/null
"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl" --version
"$venv/bin/python" - <<'PY'
import sys
from importlib.metadata import version
print(f"python {sys.version.split()[0]}, hishel {version('hishel')}, httpx {version('httpx')}, requests {version('requests')}")
PY
