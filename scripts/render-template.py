#!/usr/bin/env python3
"""Renders infra/template.yaml from infra/template.in.yaml, inlining the CloudFront Functions
(CloudFormation takes their code only inline) and the CDN log definitions the Athena named
queries share with `media-edge logs` (infra/log-definitions.json). The cohort count becomes ${CohortCount}, the
template parameter shared with the router; __STACK_ID__ becomes the expression for the stack's name
fragment. It also writes infra/deploy-facts.json, what `media-edge doctor` needs to know of the
template (parameter defaults, functions, reservations, Regions, log fields, the probe channel),
taken from the rendered template. `--check` fails if either file is out of date."""
import json
import pathlib
import re
import sys

import yaml

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


# ---------------------------------------------------------------- deploy facts

class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags in their long JSON forms, as infra/tests/cfn.py reads
    the template: `!Ref X` → {"Ref": "X"}, `!If [...]` → {"Fn::If": [...]}."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _tag)

NO_VALUE = {"Ref": "AWS::NoValue"}
PROBE_PATTERN = re.compile(r"^/([A-Za-z0-9._-]+)/\*$")


def fail(what):
    sys.exit(f"infra/deploy-facts.json: {what} (scripts/render-template.py derives it from infra/template.yaml)")


def cfn_string(value, where):
    """A scalar as CloudFormation passes a parameter value: a string ("5", "false", "")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    fail(f"{where}: {value!r} is not a scalar")


def deploy_facts(template):
    resources = template["Resources"]
    parameters = {
        name: {
            "default": cfn_string(p["Default"], f"{name} Default") if "Default" in p else None,
            "allowed": [cfn_string(v, f"{name} AllowedValues") for v in p["AllowedValues"]]
            if "AllowedValues" in p else None,
        }
        for name, p in template["Parameters"].items()
    }
    functions = sorted(n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function")

    reserved, used_conditions = {}, []
    for name in functions:
        value = resources[name]["Properties"].get("ReservedConcurrentExecutions")
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            reserved[name] = {"value": value, "condition": None}
        elif (isinstance(value, dict) and set(value) == {"Fn::If"} and len(value["Fn::If"]) == 3
              and isinstance(value["Fn::If"][1], int) and value["Fn::If"][2] == NO_VALUE):
            reserved[name] = {"value": value["Fn::If"][1], "condition": value["Fn::If"][0]}
            used_conditions.append(value["Fn::If"][0])
        else:
            fail(f"{name}: ReservedConcurrentExecutions {value!r} is neither a number nor "
                 "!If [Condition, number, !Ref AWS::NoValue]")
    conditions = {}
    for name in sorted(set(used_conditions)):
        node = template["Conditions"].get(name)
        if not (isinstance(node, dict) and set(node) == {"Fn::Equals"} and len(node["Fn::Equals"]) == 2):
            fail(f"condition {name}: {node!r} is not !Equals [!Ref Parameter, value]")
        left, right = node["Fn::Equals"]
        ref, value = (left, right) if isinstance(left, dict) else (right, left)
        if not (isinstance(ref, dict) and set(ref) == {"Ref"} and ref["Ref"] in template["Parameters"]
                and not isinstance(value, (dict, list))):
            fail(f"condition {name}: {node!r} is not !Equals [!Ref Parameter, value]")
        conditions[name] = {"parameter": ref["Ref"], "equals": cfn_string(value, f"condition {name}")}

    rule = template["Rules"]["LogsBucketRegionTakesCloudFrontLogs"]
    (assertion,) = rule["Assertions"]
    contains = assertion["Assert"].get("Fn::Contains")
    if not (isinstance(contains, list) and len(contains) == 2 and contains[1] == {"Ref": "AWS::Region"}
            and isinstance(contains[0], list) and all(isinstance(r, str) for r in contains[0])):
        fail(f"LogsBucketRegionTakesCloudFrontLogs: {assertion['Assert']!r} is not !Contains [[Regions], !Ref AWS::Region]")
    regions = contains[0]

    fields, with_release_data = [], []
    for field in resources["AccessLogsDelivery"]["Properties"]["RecordFields"]:
        if isinstance(field, str):
            fields.append(field)
        elif (isinstance(field, dict) and set(field) == {"Fn::If"} and len(field["Fn::If"]) == 3
              and field["Fn::If"][0] == "LogReleaseData" and isinstance(field["Fn::If"][1], str)
              and field["Fn::If"][2] == NO_VALUE):
            with_release_data.append(field["Fn::If"][1])
        else:
            fail(f"AccessLogsDelivery RecordFields: {field!r} is neither a field nor "
                 "!If [LogReleaseData, field, !Ref AWS::NoValue]")

    # The probe channel: the one release behaviour whose channel is not a default release channel.
    behaviours = resources["Distribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
    release_origin = {"Fn::If": ["RoutesAtEdge", "releases", "router"]}
    default_channels = parameters["ReleaseChannels"]["default"].split(",")
    # (Behaviours that exist only under a condition, !If [Cond, {…}, NoValue], are never release ones.)
    probes = [m.group(1) for b in behaviours if b.get("TargetOriginId") == release_origin
              for m in [PROBE_PATTERN.match(b["PathPattern"])] if m and m.group(1) not in default_channels]
    if len(probes) != 1:
        fail(f"expected one release behaviour /<channel>/* outside ReleaseChannels' default, found {probes}")
    (probe,) = probes

    return {
        "comment": "GENERATED from infra/template.yaml by scripts/render-template.py (`make template`): "
                   "do not edit. Read by `media-edge doctor`.",
        "parameters": parameters,
        "functions": functions,
        "reserved_concurrency": reserved,
        "conditions": conditions,
        "regions_enabled_by_default": regions,
        "v2_log_fields": fields,
        "v2_log_fields_with_release_log_data": with_release_data,
        "probe_channel": probe,
    }


facts = json.dumps(deploy_facts(yaml.load(rendered, Loader=CfnLoader)), indent=2, ensure_ascii=False) + "\n"
outputs = {root / "infra/template.yaml": rendered, root / "infra/deploy-facts.json": facts}
if "--check" in sys.argv:
    stale = [path.relative_to(root) for path, text in outputs.items()
             if not path.exists() or path.read_text() != text]
    if stale:
        sys.exit(f"{' and '.join(map(str, stale))} {'is' if len(stale) == 1 else 'are'} out of date: run `make template`")
else:
    for path, text in outputs.items():
        path.write_text(text)
