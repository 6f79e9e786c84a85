#!/usr/bin/env bash
# Runs moat's whole test suite: lints, unit and property tests, conformance,
# and the kernel and sandbox tests (these need root; with CI=true they fail
# rather than skip when the kernel cannot be reached).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

echo "== rustfmt" >&2
cargo fmt --all -- --check

echo "== clippy" >&2
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== tests" >&2
cargo test --workspace --no-fail-fast
