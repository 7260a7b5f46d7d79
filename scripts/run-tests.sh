#!/usr/bin/env bash
# Every test: the CloudFront Functions under Node's test runner, the template's security scan
# (checkov over infra/template.yaml and its SAM transform, in its own venv), the template tests
# (pytest over the template and its SAM transform; they also read the scan's report), the Rust
# workspace with the local AWS emulator running, the template deployed as a stack on the emulator
# with its local edge and each function invoked through cargo lambda (infra/emulator/tests), the
# browser check of the outputs, then the conformance corpus. `make test` wraps this and prints the total.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "node is required for the CloudFront Function tests" >&2; exit 1; }
node --test crates/edge-router/cloudfront/
checkov_report=$(mktemp)
trap 'rm -f "$checkov_report"' EXIT
scripts/checkov.sh --json "$checkov_report"
MEDIA_EDGE_CHECKOV_REPORT=$checkov_report .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests
# The local edge's path patterns and S3 key resolution on their own (infra/emulator/edge/test).
node --test infra/emulator/edge/
# --include-ignored: the deployed-build test, which needs `make deployed-build` (make test runs it).
scripts/with-emulator.sh cargo test --workspace --locked -- --include-ignored
# infra/template.yaml deployed as a stack on the emulator and its wiring exercised; broken copies
# of it must fail; the local edge (the template's CloudFront behaviours and functions in front of
# the stack's buckets) fetched over HTTP; each function's build invoked with a sample event through
# cargo lambda (test_invoke.py: the Rust builds above, so after them). infra/emulator/tests, ~60 s.
scripts/with-emulator.sh .venv/bin/python -m pytest -q -p no:cacheprovider infra/emulator/tests
# What we make, shown by a real browser (Debian's chromium, installed if missing): a few inputs
# uploaded to the stack, rendered by the processor's deployed build, every AVIF, WebP, MP4 and
# <picture> fetched through the local edge, screenshot compared against the fallback files.
scripts/with-emulator.sh .venv/bin/python scripts/browser-check.py
# The CDN log report's HTML page in the same browser: loads nothing, no console errors, sortable.
python3 scripts/report-browser-check.py
# Conformance: Pillow's test images (the pinned sdist from PyPI, downloaded once into
# .local/corpus) and tests/conformance/files through `media-edge process`, one process per file,
# against tests/conformance/expected.tsv and the recorded view of headless Chromium.
python3 tests/conformance/run.py
