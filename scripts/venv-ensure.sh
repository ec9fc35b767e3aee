#!/usr/bin/env bash
# The Python virtual environment for the interop checks, rebuilt when requirements change.
set -euo pipefail
req=Tests/Interop/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
