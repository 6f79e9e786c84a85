#!/usr/bin/env bash
# Installs the Debian packages moat's build, tests and sandbox use, when missing.
set -euo pipefail

packages=(clang llvm libbpf-dev bpftool libz3-dev iproute2 nginx-light busybox iperf3 iptables nftables graphviz)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
