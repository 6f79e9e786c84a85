#!/usr/bin/env bash
# The moat demo, end to end: a sandbox node with nginx behind a ClusterIP
# and a busybox client. The client fetches the welcome page. Then a policy
# that isolates the web server is applied without restarting anything, so
# the same request fails, and the event stream names the policy that
# dropped it.
# Everything lives in network namespaces that the sandbox removes on exit.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
profile=${MOAT_PROFILE:-release}
if [[ $profile == release ]]; then
  cargo build --release -q -p moat-cli
else
  cargo build -q -p moat-cli
fi
moat="target/$profile/moat"
name=demo
monitor_pid=
cleanup() {
  [[ -n $monitor_pid ]] && kill "$monitor_pid" 2>/dev/null || true
  "$moat" sandbox down --name "$name" >/dev/null 2>&1 || true
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "moat sandbox up policies/demo"
"$moat" sandbox down --name "$name" >/dev/null 2>&1 || true
"$moat" sandbox up --name "$name" policies/demo | tee /tmp/moat-demo-up.$$
ip=$(awk '$1 == "service" && $2 == "default/web-service" { print $3 }' /tmp/moat-demo-up.$$)
rm -f /tmp/moat-demo-up.$$

# NOTE: Debian's busybox 1.35 wget crashes with SIGSEGV when given `-T`, so
# coreutils `timeout` bounds the request instead.
fetch() {
  "$moat" sandbox exec --name "$name" default/client-0 -- \
    timeout 3 busybox wget -q -O - "http://$ip"
}

step "client: wget -O - http://$ip (web-service)"
fetch

step "moat sandbox apply policies/demo-isolated"
"$moat" sandbox apply --name "$name" policies/demo-isolated

events=$(mktemp)
"$moat" monitor --pin-dir "/sys/fs/bpf/moat-$name" >"$events" 2>&1 &
monitor_pid=$!
sleep 0.5

step "client: wget -O - http://$ip again"
if fetch; then
  echo "error: the request passed the isolating policy" >&2
  exit 1
fi
echo "request failed, as the policy demands"

sleep 0.5
step "moat monitor"
grep -m1 -i "drop" "$events" || { cat "$events"; echo "error: no drop event" >&2; exit 1; }
rm -f "$events"
