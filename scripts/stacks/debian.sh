#!/usr/bin/env bash
# Debian packages the tests drive as real programs: Prometheus (tests/test_prometheus.py scrapes
# a running service) and headless Chromium (tests/test_web_*.py load the live page and the
# simulator's report). Pinned by name to the distribution's release; apt-get runs only when one
# is missing, so a machine that has them spends a dpkg query.
set -euo pipefail
PACKAGES=(prometheus chromium fonts-dejavu-core)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "debian: ${PACKAGES[*]} present"
    exit 0
fi
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "debian: installing ${missing[*]}"
"${as_root[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
