#!/usr/bin/env bash
# The Python virtual environments for the interop checks, each rebuilt when its
# requirements change: .venv (SDK 3.1.1 and the runtimes) and .venv-sdk04 (Microsoft's
# SDK 0.4.0 for the v2 API, which shares its package name with 3.1.1).
set -euo pipefail
ensure() {  # venv requirements
  local venv=$1 req=$2
  local stamp=$venv/.requirements.sha256 want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
}
ensure .venv Tests/Interop/requirements.txt
ensure .venv-sdk04 Tests/InteropSDK04/requirements.txt
