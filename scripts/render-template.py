#!/usr/bin/env python3
"""Renders infra/template.yaml from infra/template.in.yaml, inlining the CloudFront Functions
(CloudFormation takes their code only inline). The cohort count becomes ${CohortCount}, the
template parameter shared with the router. `--check` fails if template.yaml is out of date."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
source = (root / "infra/template.in.yaml").read_text()


def inline(name):
    code = (root / "crates/edge-router/cloudfront" / name).read_text()
    # `${` would be a !Sub variable: the functions must not contain it.
    assert "${" not in code, f"{name} contains '${{', which !Sub would expand"
    code = re.sub(r"var COHORTS = \d+;", "var COHORTS = ${CohortCount};", code)
    return "\n".join(("        " + line).rstrip() for line in code.splitlines())


rendered = source.replace("__VIEWER_REQUEST_JS__", inline("viewer-request.js"))
rendered = rendered.replace("__VIEWER_RESPONSE_JS__", inline("viewer-response.js"))
rendered = rendered.replace(
    "# Rendered into template.yaml by scripts/render-template.py (it inlines the CloudFront Functions\n"
    "# from crates/edge-router/cloudfront/). Edit this file, then run `make template`.",
    "# GENERATED from template.in.yaml by scripts/render-template.py (`make template`): do not edit.",
)
target = root / "infra/template.yaml"
if "--check" in sys.argv:
    if not target.exists() or target.read_text() != rendered:
        sys.exit("infra/template.yaml is out of date: run `make template`")
else:
    target.write_text(rendered)
