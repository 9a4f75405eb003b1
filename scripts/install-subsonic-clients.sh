#!/usr/bin/env bash
# Installs the third-party Subsonic clients that bae-server's tests drive
# (crates/server/tests/clients/*.py): py-opensonic (import `libopensonic`)
# and knuckles, from PyPI, into the virtual environment at <repo>/.venv
# (created here if missing; shared with scripts/install-test-deps.sh).
# Safe to run again: installed clients are kept.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ]; then
    echo "install-subsonic-clients: virtual environment $venv already exists"
else
    echo "install-subsonic-clients: creating virtual environment $venv"
    "$python" -m venv "$venv"
fi

if "$venv/bin/python" -c 'import libopensonic, knuckles' >/dev/null 2>&1; then
    echo "install-subsonic-clients: py-opensonic and knuckles already installed"
else
    echo "install-subsonic-clients: installing py-opensonic and knuckles into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check py-opensonic knuckles
fi
"$venv/bin/python" -m pip show py-opensonic knuckles 2>/dev/null | grep -E '^(Name|Version):' | paste - - \
    | sed 's/^/install-subsonic-clients: /'
