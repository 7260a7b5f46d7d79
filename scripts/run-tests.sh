#!/usr/bin/env bash
# Every check and test `make test` runs (it wraps this and prints the total), in two phases of
# groups run side by side where that pays: two Rust builds at once on two cores took longer than
# one after the other (memory and cache, not cores, ran out), so the builds stay in one group; the
# checks that need no build run beside them, and most tests wait on the emulator, ffmpeg or a
# browser rather than a core, so the test suites run side by side.
#
# Phase 1, the builds, and the checks that need none:
#   build       rustfmt and clippy (make lint), the debug build of every test, then
#               image-processor and the notifier as deployment builds them (make deployed-build)
#   infra       the template (make validate), the ffmpeg layer (make layer-check), the CloudFront
#               Functions and the local edge's path rules under Node, checkov over the template
#               and its SAM transform, the template tests (pytest over both; they read its report)
#               and the module-graph checker's
# Phase 2, the tests that need the builds:
#   rust-tests  the workspace's tests against their own emulator (cargo nextest when installed, as
#               on this project's machines; cargo test otherwise), the ignored ones too (the
#               deployed-build test, the 60-upload soak)
#   system      the template deployed on an emulator with its local edge, each function invoked
#               through cargo lambda (infra/emulator/tests); the browser checks; the
#               conformance corpus
#
# Each group's output goes to target/test-logs/<group>.log and is printed whole, in the order
# above, when its phase ends, with how long it took. A failed group fails the run after its
# phase; phase 2 runs only if phase 1 passed. Timings: docs/development.md#how-long-make-test-takes.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "node is required for the CloudFront Function tests" >&2; exit 1; }

logs=target/test-logs
mkdir -p "$logs"
started=$SECONDS
declare -A pid

if command -v cargo-nextest >/dev/null; then
  build_tests=(cargo nextest run --workspace --locked --no-run)
  run_tests=(cargo nextest run --workspace --locked --run-ignored all --no-fail-fast)
else
  build_tests=(cargo test --workspace --locked --no-run)
  run_tests=(cargo test --workspace --locked --no-fail-fast -- --include-ignored)
fi

# Runs "$@" in the background as group $1, its output in its log, its time and status at the end.
group() {
  local name=$1
  shift
  (
    start=$SECONDS
    "$@"
    status=$?
    echo "[$name: $((SECONDS - start)) s, exit $status]"
    exit "$status"
  ) >"$logs/$name.log" 2>&1 &
  pid[$name]=$!
  echo "started $name (follow it: tail -f $logs/$name.log)"
}

# Waits for the groups, prints their logs in order; fails if any failed.
phase() {
  local failed=()
  for name in "$@"; do
    wait "${pid[$name]}" || failed+=("$name")
  done
  for name in "$@"; do
    echo "==================== $name ===================="
    cat "$logs/$name.log"
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]} (logs in $logs/)" >&2
    return 1
  fi
}

# Runs every step, however an earlier one ended; fails if any failed.
all() {
  local status=0
  for step in "$@"; do
    timed "$step" "$step" || status=1
  done
  return "$status"
}

# Runs "$@" and says how long it took, as step $1 of a group.
timed() {
  local name=$1 start=$SECONDS status
  shift
  "$@"
  status=$?
  echo "[$name: $((SECONDS - start)) s]"
  return "$status"
}

builds() {
  timed lint make --no-print-directory lint &&
    timed test-build "${build_tests[@]}" &&
    timed deployed-build make --no-print-directory deployed-build
}

template_tests() {
  local report status
  report=$(mktemp)
  scripts/checkov.sh --json "$report" &&
    MEDIA_EDGE_CHECKOV_REPORT=$report .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests \
      scripts/test_module_graph.py
  status=$?
  rm -f "$report"
  return "$status"
}
validate() { make --no-print-directory validate; }
layer_check() { make --no-print-directory layer-check; }
node_tests() { node --test crates/edge-router/cloudfront/ && node --test infra/emulator/edge/; }

rust_tests() { scripts/with-emulator.sh "${run_tests[@]}"; }
emulator_tests() { scripts/with-emulator.sh .venv/bin/python -m pytest -q -p no:cacheprovider infra/emulator/tests; }
# What we make, shown by a real browser (Debian's chromium, installed if missing): inputs uploaded
# to the stack, rendered by the processor's deployed build, every AVIF, WebP, MP4 and <picture>
# fetched through the local edge, screenshot compared against the fallback files.
browser_check() { scripts/with-emulator.sh .venv/bin/python scripts/browser-check.py; }
# The CDN log report's HTML page in the same browser: loads nothing, no console errors, sortable.
report_check() { python3 scripts/report-browser-check.py; }
# Pillow's test images (the pinned sdist, downloaded once into .local/corpus) and
# tests/conformance/files through `media-edge process`, against tests/conformance/expected.tsv.
conformance() { python3 tests/conformance/run.py; }

group build builds
group infra all validate layer_check node_tests template_tests
phase build infra || exit 1

group rust-tests rust_tests
group system all emulator_tests browser_check report_check conformance
phase rust-tests system || exit 1
echo "make test: $((SECONDS - started)) s"
