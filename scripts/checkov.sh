#!/usr/bin/env bash
# checkov, the infrastructure security scanner, over the SAM template: infra/template.yaml as
# written, and as CloudFormation deploys it after the SAM transform (infra/tests/cfn.py runs it
# offline), which adds the resources SAM generates (roles, versions, aliases, event source mappings,
# CodeDeploy). Fails on any failed check. Checks the template does not meet on purpose are skipped
# in it, each with its reason (Metadata: checkov: skip); docs/deploying.md lists them.
#
# checkov lives in its own venv, .venv-checkov, created here from requirements-checkov.txt (its
# pins conflict with pytest and moto in .venv). Needs .venv (`make venv`) for uv and the transform.
#
#   scripts/checkov.sh [--json FILE]   FILE: checkov's JSON report (one entry per scanned file)
set -euo pipefail
cd "$(dirname "$0")/.."
json=""
if [ "${1:-}" = "--json" ]; then json=$2; rm -f "$json"; fi

venv=.venv-checkov
if [ ! -f $venv/.installed ] || [ requirements-checkov.txt -nt $venv/.installed ]; then
  echo "installing checkov into $venv (requirements-checkov.txt)" >&2
  python3 -m venv $venv
  .venv/bin/uv pip install --quiet --python $venv/bin/python -r requirements-checkov.txt
  touch $venv/.installed
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python infra/tests/cfn.py --transformed > "$work/transformed-template.json"
# With one output format, --output-file-path is a directory: checkov writes results_json.json there.
report=$work/report/results_json.json

# Offline: no download of Prisma Cloud metadata, no check for a newer checkov. The JSON report has
# every check (passed, failed, skipped with its comment); the summary below prints the failures.
status=0
CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE \
  $venv/bin/checkov --framework cloudformation --skip-download \
  -f infra/template.yaml -f "$work/transformed-template.json" \
  -o json --output-file-path "$work/report" >/dev/null || status=$?
if [ -n "$json" ] && [ -f "$report" ]; then cp "$report" "$json"; fi
.venv/bin/python - "$report" "$status" <<'PY'
import json, sys
path, status = sys.argv[1], int(sys.argv[2])
try:
    reports = json.load(open(path))
except (OSError, ValueError) as e:
    sys.exit(f"checkov wrote no readable report ({e}); exit status {status}")
reports = reports if isinstance(reports, list) else [reports]
total = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}
for report in reports:
    for key in total:
        total[key] += report["summary"][key]
    for check in report["results"]["failed_checks"]:
        print(f"FAILED {check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}")
print("checkov (infra/template.yaml and its SAM transform): "
      f"{total['passed']} checks passed, {total['failed']} failed, {total['skipped']} skipped "
      f"(each skip's reason is in the template), {total['parsing_errors']} parsing errors")
if total["failed"] or total["parsing_errors"] or status:
    sys.exit(1)
PY
