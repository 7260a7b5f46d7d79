#!/usr/bin/env bash
# Builds image-processor and the notifier the way deployment does (`make build`, SAM's rust-cargolambda): cargo
# lambda, release profile plus the optimisation flags cargo lambda adds, here for this machine's
# architecture with plain cargo (no cross-compiling). Then checks those flags: cargo lambda adds
# `profile.release.panic="abort"` unless Cargo.toml's release profile sets `panic`, and the
# processor depends on unwinding (libjpeg errors, per-message isolation). The deployed-build test
# (crates/image-processor/tests/it/deployed_build.rs) then runs target/lambda/image-processor/bootstrap,
# and the invoke tests (infra/emulator/tests_after_build) run both bootstraps under cargo lambda's
# Runtime API with sample events.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
arch_flag=()
[ "$(uname -m)" = aarch64 ] && arch_flag=(--arm64)
log=target/deployed-build.log
mkdir -p target
if ! RUST_LOG=cargo_lambda=debug cargo lambda build --release --compiler cargo --locked "${arch_flag[@]}" \
    --bin image-processor --bin notifier >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "deployed build failed (full log: $log)" >&2
  exit 1
fi
flags=$(grep -m1 'release optimizations' "$log" || true)
if [ -z "$flags" ]; then
  echo "cargo lambda did not log its release flags (looked for 'release optimizations' in $log)" >&2
  exit 1
fi
echo "cargo lambda's release flags: ${flags#*config=}"
if grep -q 'panic' <<<"$flags"; then
  echo "cargo lambda overrides the panic strategy: set panic = \"unwind\" in Cargo.toml's [profile.release]" >&2
  exit 1
fi
ls -l target/lambda/image-processor/bootstrap target/lambda/notifier/bootstrap
