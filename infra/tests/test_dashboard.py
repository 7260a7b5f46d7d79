"""The CloudWatch dashboard: its body (a !Sub string) is JSON once CloudFormation has substituted
it, names only this stack's resources (queues by QueueName, functions by name, alarms by ARN), shows
what an operator of the pipeline, the notifier and the router needs, and reads the functions' own
metrics (namespace MediaEdge, CloudWatch Embedded Metric Format in their logs) by the names and
dimensions the functions publish."""
import json
import re

import pytest

import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]
DASHBOARD = RESOURCES["Dashboard"]["Properties"]
BODY = DASHBOARD["DashboardBody"]["Fn::Sub"]

# The functions' metrics: {metric name: (service, extra dimensions)}. Every one also has Service.
CUSTOM = {
    "OriginalsProcessed": ("image-processor", ()),
    "OriginalsFailed": ("image-processor", ("FailureClass",)),
    "InputBytes": ("image-processor", ()),
    "OutputBytes": ("image-processor", ("Format",)),
    "RenderMs": ("image-processor", ()),
    "UploadToStatusMs": ("image-processor", ()),
    "FfmpegMs": ("image-processor", ()),
    "Responses": ("edge-router", ("ChannelKind", "Version")),
}
# What each ${Resource.Attribute} of the body must be.
ATTRIBUTES = {"QueueName": "AWS::SQS::Queue", "Arn": "AWS::CloudWatch::Alarm"}


def placeholder(name):
    return f"<{name}>"


def rendered_body():
    """The body with every ${...} substituted: parameters and pseudo parameters by their default
    values, resources by a placeholder "<Name>" or "<Name.Attribute>" (after checking they exist)."""
    params = cfn.parameters(TEMPLATE)
    for variable in set(re.findall(r"\$\{([^}!]*)\}", BODY)):
        if variable in params:
            continue
        name, _, attribute = variable.partition(".")
        assert name in RESOURCES, f"the dashboard names {name}, which the template does not have"
        if attribute:
            assert RESOURCES[name]["Type"] == ATTRIBUTES[attribute], variable
        else:
            assert RESOURCES[name]["Type"] == "AWS::Serverless::Function", variable
        params[variable] = placeholder(variable)
    return json.loads(cfn.evaluate({"Fn::Sub": BODY}, params))


BODY_JSON = rendered_body()
WIDGETS = BODY_JSON["widgets"]


def metric_rows():
    """(widget title, metric row) for every plain metric of every metric widget."""
    for w in WIDGETS:
        if w["type"] == "metric":
            for row in w["properties"]["metrics"]:
                if isinstance(row[0], str):
                    yield w["properties"]["title"], row


def expressions():
    for w in WIDGETS:
        if w["type"] == "metric":
            for row in w["properties"]["metrics"]:
                if isinstance(row[0], dict):
                    yield w["properties"]["title"], row[0]["expression"]


def dimensions(row):
    """The dimensions of a metric row [namespace, name, dim, value, ..., {options}]."""
    values = [v for v in row[2:] if not isinstance(v, dict)]
    return dict(zip(values[::2], values[1::2]))


def shown():
    """{(namespace, metric, frozenset of dimension items)} of the plain rows."""
    return {(row[0], row[1], frozenset(dimensions(row).items())) for _, row in metric_rows()}


def test_name_and_body():
    # media-edge-<id> (first group of the stack's UUID, as cfn.parameters makes it up)
    assert cfn.evaluate(DASHBOARD["DashboardName"], cfn.parameters(TEMPLATE)) == "media-edge-1c2fa620"
    assert isinstance(BODY_JSON, dict) and WIDGETS
    for w in WIDGETS:
        assert w["type"] in ("metric", "text", "alarm")
        assert 0 <= w["x"] and w["x"] + w["width"] <= 24, w


def test_widgets_do_not_overlap():
    cells = set()
    for w in WIDGETS:
        for x in range(w["x"], w["x"] + w["width"]):
            for y in range(w["y"], w["y"] + w["height"]):
                assert (x, y) not in cells, w.get("properties", {}).get("title")
                cells.add((x, y))


def test_metric_widgets_are_in_the_stack_region():
    for w in WIDGETS:
        if w["type"] == "metric":
            assert w["properties"]["region"] == cfn.parameters(TEMPLATE)["AWS::Region"]


def test_aws_metrics_name_this_stacks_resources():
    kinds = {"AWS/SQS": ("QueueName", "AWS::SQS::Queue"), "AWS/Lambda": ("FunctionName", "AWS::Serverless::Function")}
    for title, row in metric_rows():
        namespace = row[0]
        if namespace == "MediaEdge":
            continue
        dimension, type_ = kinds[namespace]
        dims = dimensions(row)
        assert list(dims) == [dimension], (title, row)
        name = dims[dimension].strip("<>").split(".")[0]
        assert RESOURCES[name]["Type"] == type_, (title, row)


def test_the_pipeline_the_notifier_and_the_router_are_on_it():
    def fn(name):
        return frozenset({("FunctionName", placeholder(name))})

    def queue(name):
        return frozenset({("QueueName", placeholder(f"{name}.QueueName"))})

    expected = {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue("JobsQueue")),
        ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", queue("JobsQueue")),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", queue("JobsQueue")),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue("JobsDeadLetterQueue")),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue("NotifierDeadLetterQueue")),
        ("AWS/Lambda", "Invocations", fn("ImageProcessorFunction")),
        ("AWS/Lambda", "Errors", fn("ImageProcessorFunction")),
        ("AWS/Lambda", "Throttles", fn("ImageProcessorFunction")),
        ("AWS/Lambda", "Duration", fn("ImageProcessorFunction")),
        ("AWS/Lambda", "Errors", fn("NotifierFunction")),
        ("AWS/Lambda", "Invocations", fn("EdgeRouterFunction")),
        ("AWS/Lambda", "Errors", fn("EdgeRouterFunction")),
        ("AWS/Lambda", "Url5xxCount", fn("EdgeRouterFunction")),
        ("AWS/Lambda", "Duration", fn("EdgeRouterFunction")),
    }
    assert expected <= shown(), expected - shown()


def search_parts(expression):
    """(schema namespace, schema dimensions, metric name, quoted terms, statistic) of a SEARCH()."""
    m = re.fullmatch(r"SEARCH\('\{([^}]*)\}\s+(.*)',\s*'(\w+)',\s*(\d+)\)", expression)
    assert m, expression
    schema = [part.strip() for part in m.group(1).split(",")]
    terms = m.group(2)
    name = re.search(r'MetricName="([^"]+)"', terms)
    assert name, expression
    others = re.findall(r'"([^"]+)"', terms.replace(name.group(0), ""))
    return schema[0], set(schema[1:]), name.group(1), others, m.group(3)


def test_custom_metrics_use_the_published_names_and_dimensions():
    found = set()
    for title, row in metric_rows():
        if row[0] != "MediaEdge":
            continue
        service, extra = CUSTOM[row[1]]
        assert extra == (), f"{row[1]} has dimensions {extra}: it needs a SEARCH ({title})"
        assert dimensions(row) == {"Service": service}, (title, row)
        found.add(row[1])
    for title, expression in expressions():
        namespace, dims, name, terms, _ = search_parts(expression)
        assert namespace == "MediaEdge", expression
        service, extra = CUSTOM[name]
        # The schema is exactly the metric's dimension set, so a series per dimension value.
        assert dims == {"Service", *extra}, expression
        assert terms == [service], expression
        found.add(name)
    assert found == set(CUSTOM)


def test_custom_metric_names_are_the_ones_the_functions_publish():
    # The functions publish them (crates/media-edge-shared/src/metrics.rs and their handlers); a
    # renamed metric would leave a graph empty without an error anywhere.
    shared = cfn.ROOT / "crates/media-edge-shared/src/metrics.rs"
    if not shared.exists():
        pytest.skip("the functions do not publish metrics yet (no crates/media-edge-shared/src/metrics.rs)")
    assert 'NAMESPACE: &str = "MediaEdge"' in shared.read_text()
    sources = {
        "image-processor": "\n".join(p.read_text() for p in (cfn.ROOT / "crates/image-processor/src").rglob("*.rs")),
        "edge-router": "\n".join(p.read_text() for p in (cfn.ROOT / "crates/edge-router/src").rglob("*.rs")),
    }
    for name, (service, extra) in CUSTOM.items():
        assert f'"{name}"' in sources[service], f"{service} does not publish {name}"
        for dimension in extra:
            assert f'"{dimension}"' in sources[service], f"{service} has no dimension {dimension}"


def test_every_alarm_is_on_it():
    (widget,) = [w for w in WIDGETS if w["type"] == "alarm"]
    alarms = {a.strip("<>").removesuffix(".Arn") for a in widget["properties"]["alarms"]}
    assert alarms == set(cfn.resources_of(TEMPLATE, "AWS::CloudWatch::Alarm"))


def test_annotations_match_what_they_mark():
    by_title = {w["properties"]["title"]: w["properties"] for w in WIDGETS if w["type"] == "metric"}
    age = next(p for t, p in by_title.items() if any(r[1] == "ApproximateAgeOfOldestMessage" for r in p["metrics"]))
    (line,) = age["annotations"]["horizontal"]
    assert line["value"] == RESOURCES["JobsQueueStuckAlarm"]["Properties"]["Threshold"]
    duration = next(p for t, p in by_title.items() if t.startswith("Image processor: duration"))
    (line,) = duration["annotations"]["horizontal"]
    assert line["value"] == RESOURCES["ImageProcessorFunction"]["Properties"]["Timeout"] * 1000
    concurrency = next(p for t, p in by_title.items() if t.startswith("Image processor: concurrent"))
    (line,) = concurrency["annotations"]["horizontal"]
    assert line["value"] == int(TEMPLATE["Parameters"]["ProcessorMaxConcurrency"]["Default"])
    assert "${ProcessorMaxConcurrency}" in BODY
