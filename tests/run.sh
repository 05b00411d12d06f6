#!/usr/bin/env bash
# Install what the tests need on Debian 12 (as root, idempotently), then run them all.
#   bash tests/run.sh [pytest arguments]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" != 0 ]; then
    echo "tests/run.sh: run me as root (the integration tests start real containers)" >&2
    exit 1
fi

# The daemon itself, exactly as the README installs it.
bash deploy/install.sh

# docker-compose: Debian's 1.29 (the Python one, with its own /usr/bin/python3 and
# python3-docker), run by the compose tests as a user runs it.
packages=(python3 python3-venv openssl curl busybox-static docker-registry iproute2 docker-compose)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v docker >/dev/null; then
    # The docker CLI, from Debian. Its package also ships dockerd, which must not start here.
    missing+=(docker.io)
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    # Packages that ship services (docker.io, docker-registry) must not start them here.
    policy=/usr/sbin/policy-rc.d
    placed=
    [ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; placed=1; }
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    [ -z "$placed" ] || rm -f "$policy"
fi

# The tests run against this checkout (editable), in a venv of their own.
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"

exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
