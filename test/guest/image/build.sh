#!/bin/bash
# Builds the test guest's image into CACHE/KEY: a raw ext4 root filesystem (Debian 12 from
# packages.txt, systemd as PID 1, the host's Node 20 repacked), and the kernel and a small
# initrd taken from it. Run as root by test/guest/image.ts, which computes KEY from this
# directory's files. Under an exclusive lock on CACHE/KEY.lock: reuses CACHE/KEY if it is
# complete, otherwise builds into a temporary directory renamed into place at the very end,
# so a failed or interrupted build is never used.
set -euo pipefail
CACHE=$1
KEY=$2
SRC=$(cd "$(dirname "$0")" && pwd)
FINAL=$CACHE/$KEY
mkdir -p "$CACHE"

exec 9>"$CACHE/$KEY.lock"
if ! flock -n 9; then
  echo "guest image: another build of $KEY is running; waiting for it" >&2
  flock 9
fi
if [ -f "$FINAL/ready" ]; then
  echo "guest image: $FINAL is ready" >&2
  exit 0
fi
rm -rf "$CACHE/.$KEY.tmp."* "$FINAL"   # left by an interrupted build (we hold the lock)
TMP=$CACHE/.$KEY.tmp.$$
mkdir -p "$TMP"
cleanup() {
  set +e   # (errexit/pipefail would stop the cleanup at the first grep that finds nothing)
  # Anything still mounted inside the half-built root (an interrupted mmdebstrap) first.
  if [ -d "$TMP" ]; then
    grep -o " $TMP/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
t0=$(date +%s)
step() { echo "guest image: [$(( $(date +%s) - t0 ))s] $*" >&2; }

# Node 20: the host's installed nodejs package, repacked (Debian 12 has only Node 18). Kept
# per version in CACHE/debs, as repacking takes over a minute.
NODE_VERSION=$(dpkg-query -W -f='${Version}' nodejs)
NODE_DEB=$CACHE/debs/nodejs_${NODE_VERSION}_amd64.deb
if [ ! -f "$NODE_DEB" ]; then
  step "repacking the host's nodejs $NODE_VERSION"
  mkdir -p "$TMP/repack" "$CACHE/debs"
  # (npm's files that the host no longer has are warned about and left out: only node matters here)
  (cd "$TMP/repack" && dpkg-repack nodejs >"$TMP/repack.log" 2>&1) || { cat "$TMP/repack.log" >&2; exit 1; }
  mv "$TMP"/repack/nodejs_*.deb "$NODE_DEB.tmp"
  mv "$NODE_DEB.tmp" "$NODE_DEB"
  rm -rf "$TMP/repack" "$TMP/repack.log"
fi

PKGS=$(sed -e 's/#.*//' "$SRC/packages.txt" | tr -s ' \t\n' '\n' | grep -v '^$' | paste -sd, -)
ROOT=$TMP/root
step "mmdebstrap bookworm: $PKGS"
# The file-mirror hook makes the local .deb in --include installable. The mirror is the
# host's Debian sources (bookworm, -updates, -security).
mmdebstrap --quiet --variant=minbase --mode=root --format=directory \
  --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
  --include="$PKGS,$NODE_DEB" \
  --customize-hook='copy-in "'"$SRC"'/berth-guest-run" /usr/local/sbin/' \
  --customize-hook='copy-in "'"$SRC"'/berth-guest.service" /etc/systemd/system/' \
  --customize-hook='"'"$SRC"'/customize.sh" "$1"' \
  bookworm "$ROOT" /etc/apt/sources.list.d/debian.sources

step "kernel and initrd"
KVER=$(basename "$(ls -d "$ROOT"/lib/modules/* | sort -V | tail -1)")
cp "$ROOT/boot/vmlinuz-$KVER" "$TMP/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$TMP/initrd.img"
rm -f "$ROOT/boot/initrd.img-$KVER"   # only the host boots it; the guest's copy would be dead weight

step "root filesystem image"
mke2fs -q -t ext4 -L berth-guest-root -d "$ROOT" "$TMP/rootfs.img" 6G
rm -rf "$ROOT"
{
  echo "key=$KEY"
  echo "kernel=$KVER"
  echo "node=$NODE_VERSION"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "seconds=$(( $(date +%s) - t0 ))"
} >"$TMP/ready"
mv -T "$TMP" "$FINAL"
# Older images (other keys) and nodejs debs: keep the previous image for a harness still
# using it, remove the rest, each under its own lock so a build in progress stays.
for old in $(ls -1dt "$CACHE"/*/ready 2>/dev/null | tail -n +3); do
  d=$(dirname "$old")
  ( flock -n 9 && rm -rf "$d" && rm -f "$d.lock" ) 9>"$d.lock" || true
done
find "$CACHE/debs" -name 'nodejs_*.deb' ! -name "$(basename "$NODE_DEB")" -delete 2>/dev/null || true
step "done: $FINAL ($(du -sh --apparent-size "$FINAL/rootfs.img" | cut -f1) apparent, $(du -sh "$FINAL/rootfs.img" | cut -f1) allocated)"
