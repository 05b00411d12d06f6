#!/usr/bin/env bash
# Install Dockyard on Debian 12, as root, into /opt/dockyard (DOCKYARD_PREFIX to change it).
#   bash deploy/install.sh            install or upgrade
#   bash deploy/install.sh --run ...  install, then run dockyardd in the foreground with the
#                                     remaining arguments (dockyardd --help lists them)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${DOCKYARD_PREFIX:-/opt/dockyard}
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run me as root (containers need it)" >&2
    exit 1
fi

# System packages, installed only when missing so a second run does not touch apt.
# runc: the second runtime a container may choose (HostConfig.Runtime, the daemon's runtime).
# nftables: the host firewall for networks (published ports, NAT, isolation between bridges).
# procps: ps, which docker top runs (absent from minimal Debian images: priority important).
# tini: its static build is docker-init, which a container with HostConfig.Init runs as pid 1.
packages=(python3 python3-venv ca-certificates runc nftables procps tini)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x "$prefix/bin/python" ] || /usr/bin/python3 -m venv "$prefix"
"$prefix/bin/pip" install -q --disable-pip-version-check --upgrade "$here"

# Record which commit this is, for /version (the installed copy has no git history). The
# package is looked up from / in isolated mode: from the checkout, python would find the
# checkout's own services/ instead of the installed one.
pkg=$(cd / && "$prefix/bin/python" -I -c 'import os, services; print(os.path.dirname(services.__file__))')
# git may refuse a checkout another user owns (safe.directory), or be missing: then HEAD is
# read from .git itself.
commit=$(git -c safe.directory="$here" -C "$here" log -1 --format=%h 2>/dev/null || true)
if [ -z "$commit" ] && [ -f "$here/.git/HEAD" ]; then
    head=$(cat "$here/.git/HEAD")
    case "$head" in
        "ref: "*) ref=${head#ref: }
                  commit=$(cat "$here/.git/$ref" 2>/dev/null || grep -s " $ref\$" "$here/.git/packed-refs" | cut -d' ' -f1) ;;
        *) commit=$head ;;
    esac
    commit=${commit:0:7}
fi
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf 'GIT_COMMIT = "%s"\nBUILD_TIME = "%s"\n' "${commit:-unknown}" "$built" > "$pkg/_build_info.py"

# The commands go on the PATH (DOCKYARD_BIN to put them elsewhere).
bin=${DOCKYARD_BIN:-/usr/local/bin}
mkdir -p "$bin"
ln -sf "$prefix/bin/dockyardd" "$bin/dockyardd"
# supervisorctl drives the services (supervisorctl -c /run/dockyard/supervisord.conf status);
# leave one that the host already has alone.
command -v supervisorctl >/dev/null || ln -sf "$prefix/bin/supervisorctl" "$bin/supervisorctl"
install -d -m 0755 /etc/dockyard
[ -e /etc/dockyard/dockyard.yaml ] || install -m 0644 "$here/deploy/dockyard.yaml" /etc/dockyard/dockyard.yaml

echo "dockyard installed in $prefix (dockyardd and supervisorctl are in $bin)"
if [ "${1:-}" = "--run" ]; then
    shift
    exec "$bin/dockyardd" --config-file /etc/dockyard/dockyard.yaml "$@"
fi
