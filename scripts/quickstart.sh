#!/usr/bin/env bash
# Quick start: install what berth needs, write a default CNI network if the node has
# none, and start berthd in the background on its default socket with its embedded
# defaults (plus /etc/berth/config.toml if present). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

ln -sf "$PWD/dist/server/main.js" /usr/local/bin/berthd
ln -sf "$PWD/dist/cli/berth.js" /usr/local/bin/berth
chmod +x dist/server/main.js dist/cli/berth.js

# A node without a CNI network gets bridge berth0 (10.88.0.0/16, host-local IPAM, portmap, loopback).
berth cni ensure-default

pidfile=/run/berth/berthd.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && grep -q berthd "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null; then
  echo "berthd is already running (pid $(cat "$pidfile")); socket $(berthd --print-config | sed -n 's/^socket = "\(.*\)"/\1/p')"
  exit 0
fi
mkdir -p /run/berth /var/log/berth
nohup berthd >>/var/log/berth/berthd.log 2>&1 </dev/null &
echo $! >"$pidfile"
socket=$(berthd --print-config | sed -n 's/^socket = "\(.*\)"/\1/p')
for _ in $(seq 1 100); do
  if grep -q '"berthd serving CRI"' /var/log/berth/berthd.log 2>/dev/null && [ -S "$socket" ]; then
    echo "berthd is serving CRI on unix://$socket (pid $(cat "$pidfile"), log /var/log/berth/berthd.log)"
    echo "try: crictl --runtime-endpoint unix://$socket info   |   stop: kill \$(cat $pidfile)"
    exit 0
  fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
  sleep 0.1
done
echo "berthd did not start; last log lines:" >&2
tail -20 /var/log/berth/berthd.log >&2
exit 1
