#!/bin/bash
# mmdebstrap customize hook for the test guest: $1 is the new root. Configures boot (fstab,
# a small initrd), disables services the guest must not start on its own, enables the unit
# that runs the harness's command.
set -euo pipefail
R=$1
echo berth-guest >"$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 berth-guest\n::1 localhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
mkdir -p "$R/berth" "$R/results"
# The work disk may appear late under emulation on a loaded host (udev runs blkid for the
# label): systemd waits up to 15 minutes for it rather than failing the boot after 30 s.
cat >"$R/etc/fstab" <<'FSTAB'
/dev/vda / ext4 rw,errors=remount-ro 0 1
LABEL=berth-work /berth ext4 rw,nofail,x-systemd.device-timeout=900s 0 0
results /results 9p trans=virtio,version=9p2000.L,msize=262144,nofail 0 0
FSTAB

# A small initrd: only what mounting the root disk needs (37 MB -> about 7 MB, faster boot).
mkdir -p "$R/etc/initramfs-tools/conf.d"
echo MODULES=list >"$R/etc/initramfs-tools/conf.d/berth-guest"
printf '%s\n' virtio_pci virtio_blk ext4 >>"$R/etc/initramfs-tools/modules"
# Modules the guest loads at boot (overlay for image layers, bridge/veth for CNI, 9p for results).
printf '%s\n' overlay bridge br_netfilter veth 9p 9pnet_virtio virtio_console >"$R/etc/modules-load.d/berth-guest.conf"
chroot "$R" update-initramfs -u -k all >/dev/null

# Services that would start by themselves: berth's tests start their own registry and
# containerd; timers and gettys only cost time under emulation.
for u in containerd.service docker-registry.service apt-daily.timer apt-daily-upgrade.timer \
         e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer \
         serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service; do
  chroot "$R" systemctl mask "$u" >/dev/null 2>&1 || true
done
chroot "$R" systemctl enable berth-guest.service >/dev/null
chmod 0755 "$R/usr/local/sbin/berth-guest-run"
# No password prompt on the console; the guest has no network.
chroot "$R" passwd -d root >/dev/null
