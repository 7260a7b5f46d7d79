#!/usr/bin/env python3
"""Renders infra/template.yaml from infra/template.in.yaml, inlining the CloudFront Functions
(CloudFormation takes their code only inline) and the CDN log definitions the Athena named
queries share with `media-edge logs` (infra/log-definitions.json). The cohort count becomes ${CohortCount}, the
template parameter shared with the router; __STACK_ID__ becomes the expression for the stack's name
fragment. `--check` fails if template.yaml is out of date."""
import json
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
source = (root / "infra/template.in.yaml").read_text()


FUNCTIONS = root / "crates/edge-router/cloudfront"


def function_code(name):
    """A deployed CloudFront Function: its files (functions.json) in order, `import` lines first
    (CloudFront Functions take no code from other files, and imports must lead), whole-line
    comments left out (the quota is 10 KB of code; the comments stay in the source files).
    crates/edge-router/cloudfront/test/load.js assembles the same code for the Node tests."""
    parts = json.loads((FUNCTIONS / "functions.json").read_text())["functions"][name]
    lines = [
        line
        for part in parts
        for line in (FUNCTIONS / part).read_text().splitlines()
        if not line.lstrip().startswith("//")
    ]
    imports = [line for line in lines if line.startswith("import ")]
    return "\n".join(imports + [line for line in lines if not line.startswith("import ")]) + "\n"


def inline(name):
    code = function_code(name)
    # `${` would be a !Sub variable: the functions must not contain it.
    assert "${" not in code, f"{name} contains '${{', which !Sub would expand"
    code = re.sub(r"var COHORTS = \d+;", "var COHORTS = ${CohortCount};", code)
    return "\n".join(("        " + line).rstrip() for line in code.splitlines())


def sql_list(values):
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def log_definitions():
    """SQL for the definitions `media-edge logs` reads from infra/log-definitions.json."""
    d = json.loads((root / "infra/log-definitions.json").read_text())
    hit, cacheable = sql_list(d["hit_result_types"]), sql_list(d["hit_result_types"] + d["miss_result_types"])
    return {
        "__HIT_RATIO__": f"CAST(SUM(CASE WHEN x_edge_result_type IN ({hit}) THEN 1 ELSE 0 END) AS double)"
        f" / NULLIF(SUM(CASE WHEN x_edge_result_type IN ({cacheable}) THEN 1 ELSE 0 END), 0)",
        "__MISS__": f"SUM(CASE WHEN x_edge_result_type IN ({sql_list(d['miss_result_types'])}) THEN 1 ELSE 0 END)",
        "__CONTENT_TYPE__": "lower(trim(split_part(sc_content_type, ';', 1)))",
        "__GIF__": sql_list([d["gif_content_type"]]),
        "__IMAGE_PREFIX__": sql_list([d["image_content_type_prefix"]]),
        "__MOBILE_TOKEN__": sql_list([d["mobile_user_agent_token"]]),
        "__SMALL_VARIANTS__": sql_list(d["small_variant_names"]),
        "__MIN_REQUESTS__": str(int(d["worst_hit_ratio_min_requests"])),
        # What release-edge.js logs (cf.logCustomData), as crates/cdn-logs/src/releases.rs reads it.
        "__RELEASE_LOG_DATA__": "^release=([A-Za-z0-9._+-]{1,64});kind=(canary|stable);"
        "version=([A-Za-z0-9._+-]{1,64});cohort=[0-9]{1,5}$",
        "__IMAGE_FORMATS__": " ".join(
            f"WHEN {sql_list([content_type])} THEN {sql_list([name])}" for content_type, name in d["image_formats"]
        ),
    }


# The v2 table is partitioned by hour (hour_utc, `yyyy/MM/dd/HH`): a day's predicate becomes one on
# the partitions, so Athena reads only those hours' prefixes. The same text works on DuckDB.
RECENT_DAYS = re.compile(r"log_date >= current_date - interval '(\d+)' day")
V2_RECENT_DAYS = (
    r"hour_utc >= replace(substr(CAST(current_date - interval '\1' day AS varchar), 1, 10), '-', '/')"
    # The day itself too (log_date is text in the v2 table): records delivered late stay in the
    # hour they were made, but a query must not depend on it.
    r" AND log_date >= substr(CAST(current_date - interval '\1' day AS varchar), 1, 10)"
)
# A query's text: lines indented below `QueryString: |`, blank lines inside it included.
QUERY_STRING = re.compile(r"^( +)QueryString: \|\n((?:\1  .*\n|[ \t]*\n(?=\1  ))+)", re.MULTILINE)


def per_log_format(match):
    """A named query's text as `!If [LogsV2, <partitioned>, <legacy>]`."""
    indent, body = match.group(1), match.group(2)
    if "hour_utc" in body and not RECENT_DAYS.search(body):
        return match.group(0)  # a query of the v2 table only (its resource has Condition: LogsV2)
    if not RECENT_DAYS.search(body):
        sys.exit(f"a named query without `log_date >= current_date - interval 'N' day`:\n{body}")
    block = lambda text: "".join(f"  {line}\n" if line else "\n" for line in text.rstrip("\n").split("\n"))
    return (
        f"{indent}QueryString: !If\n{indent}  - LogsV2\n{indent}  - |\n"
        + block(RECENT_DAYS.sub(V2_RECENT_DAYS, body))
        + f"{indent}  - |\n"
        + block(body)
    )


rendered = source.replace("__VIEWER_REQUEST_JS__", inline("cohort-request"))
for placeholder, sql in log_definitions().items():
    rendered = rendered.replace(placeholder, sql)
rendered = QUERY_STRING.sub(per_log_format, rendered)
rendered = rendered.replace("__VIEWER_RESPONSE_JS__", inline("cohort-response"))
rendered = rendered.replace("__FORMAT_NEGOTIATION_JS__", inline("format-negotiation"))
rendered = rendered.replace("__RELEASE_EDGE_REQUEST_JS__", inline("release-edge-request"))
rendered = rendered.replace("__RELEASE_EDGE_RESPONSE_JS__", inline("release-edge-response"))
# The stack's name fragment: the first group of the UUID that ends AWS::StackId
# (arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>).
rendered = rendered.replace(
    "__STACK_ID__", '!Select [0, !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]'
)
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
