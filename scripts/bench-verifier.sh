#!/usr/bin/env bash
# Measures the verifier on synthetic clusters (verifier/src/synth.rs): graph
# build and full lint at 10k pods, one reachability query at 100k pods, and
# SMT equivalence of two 2k-policy versions. Each scenario runs in its own
# process, so the peak memory it prints (VmHWM) is that scenario's alone.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p moat-verifier --example scale
for scenario in build reach equivalence lint; do
  echo "== $scenario"
  target/release/examples/scale "$scenario" 2>/dev/null
done
