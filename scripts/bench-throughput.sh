#!/usr/bin/env bash
# Measures TCP throughput between two sandbox pods through a ClusterIP, once
# with the plain router (nftables DNAT, no programs) and once with the moat
# eBPF datapath attached, and prints both figures and their ratio.
# iperf3 runs only between the sandbox's own namespaces. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-5}
profile=${MOAT_PROFILE:-release}
if [[ $profile == release ]]; then
  cargo build --release -q -p moat-cli
else
  cargo build -q -p moat-cli
fi
moat="target/$profile/moat"
name="bench$$"
name=${name:0:12}
trap '"$moat" sandbox down --name "$name" >/dev/null 2>&1 || true' EXIT

# Prints the receiver's throughput in Gbit/s for one datapath mode.
measure() {
  local mode=$1
  "$moat" sandbox up --name "$name" --datapath "$mode" testdata/sandbox/bench >/dev/null
  "$moat" sandbox exec --name "$name" bench/server -- iperf3 -s -1 -D -p 5201 >/dev/null
  sleep 0.5
  "$moat" sandbox exec --name "$name" bench/client -- \
    iperf3 -c 10.96.9.9 -p 5201 -t "$seconds" -f g |
    awk '/receiver/ { print $(NF-2) }'
  "$moat" sandbox down --name "$name" >/dev/null
}

plain=$(measure none)
ebpf=$(measure ebpf)
echo "plain router + nftables DNAT: ${plain} Gbit/s"
echo "moat eBPF datapath:           ${ebpf} Gbit/s"
awk -v a="$ebpf" -v b="$plain" 'BEGIN { if (b > 0) printf "ratio ebpf/plain: %.2f\n", a / b }'
