#!/usr/bin/env bash
# Prints the path of a headless-capable Chromium for the console's browser tests, installing
# Debian's `chromium` package first when the machine has none (once per machine; `make dev`
# never needs it). playwright-core drives this binary: its own browser downloads fail here.
set -euo pipefail
if ! command -v chromium > /dev/null 2>&1; then
  echo "chromium: installing Debian's chromium package (once per machine)" >&2
  if [ "$(id -u)" = 0 ]; then as_root=(); else as_root=(sudo); fi
  "${as_root[@]}" apt-get install -y --no-install-recommends chromium >&2 || {
    "${as_root[@]}" apt-get update >&2
    "${as_root[@]}" apt-get install -y --no-install-recommends chromium >&2
  }
fi
command -v chromium
