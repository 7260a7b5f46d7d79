"""The template passes checkov, a real infrastructure security scanner (scripts/checkov.sh: the
template as written and after the SAM transform), with no failed check. What it does not meet on
purpose is skipped in the template itself (Metadata: checkov: skip: - id, comment), every skip with
its reason, every skip still needed, and every skipped check listed in docs/deploying.md.

scripts/run-tests.sh runs the scan once and passes its JSON report in MEDIA_EDGE_CHECKOV_REPORT;
run alone, this test runs scripts/checkov.sh itself."""
import functools
import json
import os
import pathlib
import re
import subprocess
import tempfile

import cfn

TEMPLATE = cfn.rendered()
SCRIPT = cfn.ROOT / "scripts/checkov.sh"


@functools.lru_cache(maxsize=None)
def report():
    path = os.environ.get("MEDIA_EDGE_CHECKOV_REPORT")
    if path:
        return json.loads(pathlib.Path(path).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "checkov.json"
        run = subprocess.run([str(SCRIPT), "--json", str(out)], capture_output=True, text=True)
        assert out.exists(), f"checkov wrote no report:\n{run.stdout}\n{run.stderr}"
        return json.loads(out.read_text())


def reports():
    r = report()
    return r if isinstance(r, list) else [r]


def results(kind):
    return [c for r in reports() for c in r["results"].get(kind, [])]


def template_skips():
    """{(logical id, check id): comment} from the rendered template's Metadata."""
    out = {}
    for name, resource in TEMPLATE["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
            key = (name, skip.get("id"))
            assert key not in out, f"{name} skips {skip.get('id')} twice"
            out[key] = skip.get("comment")
    return out


def test_both_templates_were_scanned():
    files = {c["file_path"] for c in results("passed_checks")}
    assert any(f.endswith("/infra/template.yaml") for f in files), files
    assert any(f.endswith("transformed-template.json") for f in files), files
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports())
    assert all(r["check_type"] == "cloudformation" for r in reports())


def test_no_check_fails():
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in results("failed_checks")]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert sum(r["summary"]["failed"] for r in reports()) == 0
    assert sum(r["summary"]["passed"] for r in reports()) > 100


def test_every_skip_in_the_template_has_a_reason():
    skips = template_skips()
    assert skips, "no skips: then this test and the docs' table are stale"
    for (name, check), comment in skips.items():
        assert re.fullmatch(r"CKV2?_AWS_\d+", check or ""), f"{name}: skip id {check!r}"
        assert isinstance(comment, str) and len(comment.split()) >= 8, f"{name} {check}: no real reason ({comment!r})"


def test_every_skip_is_still_needed():
    # A skip whose check no longer applies (or now passes) would hide a future regression unread.
    skipped = {(c["resource"].split(".", 1)[1], c["check_id"]) for c in results("skipped_checks")
               if c["file_path"].endswith("/infra/template.yaml")}
    assert set(template_skips()) == skipped


def test_every_skipped_check_in_the_report_carries_its_comment():
    skipped = results("skipped_checks")
    assert skipped
    for c in skipped:
        comment = (c.get("check_result") or {}).get("suppress_comment")
        assert comment and comment.strip(), f"{c['check_id']} {c['resource']} skipped without a reason"


def test_the_transformed_template_keeps_the_skips():
    # SAM copies a function's Metadata onto the AWS::Lambda::Function it generates: the skips and
    # their reasons hold for what CloudFormation deploys too, and nothing SAM adds fails.
    by_file = {}
    for c in results("skipped_checks"):
        kind = "template" if c["file_path"].endswith("/infra/template.yaml") else "transformed"
        by_file.setdefault(kind, set()).add((c["resource"].split(".", 1)[1], c["check_id"]))
    assert by_file["transformed"] == by_file["template"]


def test_docs_list_every_skipped_check():
    # One table row per check, naming the resources that skip it.
    rows = [line for line in (cfn.ROOT / "docs/deploying.md").read_text().splitlines() if line.startswith("|")]
    for name, check in template_skips():
        assert any(f"`{check}`" in row and f"`{name}`" in row for row in rows), \
            f"docs/deploying.md has no table row for {check} naming {name}"
