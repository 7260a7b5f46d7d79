"""`make invoke`: each function's build, invoked with one of its sample events through cargo
lambda's Runtime API (`cargo lambda watch --only-lambda-apis` + `cargo lambda invoke`), with the
environment the deployed stack gave it.

The processor and the notifier run as cargo-lambda's release builds (`make deployed-build`, which
`make test` runs first), the edge router and the release controller as the debug builds the Rust
tests leave; scripts/run-tests.sh runs this file after them."""
import json
import pathlib
import re

import pytest

from infra.emulator import invoke

ROOT = invoke.ROOT
EVENTS = ROOT / "events"


def binary(function):
    path = (ROOT / "target" / "lambda" / function / "bootstrap" if function in ("image-processor", "notifier")
            else ROOT / "target" / "debug" / function)
    assert path.is_file(), f"{path} is missing: run `make test` (or `make deployed-build` and `cargo build`)"
    return path


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks.deploy("invoke")


@pytest.fixture(scope="module")
def origin_stack(stacks):
    # The KeyValueStore is CloudFront's and not emulated: the controller's edge sync would fail.
    return stacks.deploy("invoke-origin", parameters={"ReleaseRouting": "origin"})


def run(endpoint, stack, function, event):
    result = invoke.run(endpoint, function, EVENTS / function / event, binary(function), stack)
    assert result["error"] is None, result["error"] + "\n" + result["log"][-3000:]
    return result


def test_the_processor_renders_the_sample_upload(endpoint, stack):
    result = run(endpoint, stack, "image-processor", "sns-wrapped.json")
    key = "uploads/2026/promo/beach photo (rotated).jpg"
    assert result["staged"] == [("OriginalsBucket", key, "samples/beach photo (rotated).jpg")]
    assert result["response"] == {"batchItemFailures": []}
    written = [k for bucket, k in result["written"] if bucket == "VariantsBucket"]
    name = "2026/promo/beach photo (rotated).jpg"
    assert f"{name}/manifest.json" in written
    for device in ("thumbnail", "mobile", "tablet", "pc"):
        for ext in ("avif", "webp", "jpg"):
            assert any(k.startswith(f"{name}/") and k.endswith(f"/{device}.{ext}") for k in written), (device, ext)
    statuses = [json.loads(m["message"]) for m in result["published"]["StatusTopic"]]
    assert [(s["outcome"], s["source"]["key"]) for s in statuses] == [("processed", key)]


def test_the_processor_acknowledges_the_s3_test_event(endpoint, stack):
    # cargo lambda's Runtime API sends a constant deadline (600000); read as a time, it had passed
    # before the invocation began, and the processor handed every message back unread.
    result = run(endpoint, stack, "image-processor", "test-event.json")
    assert result["response"] == {"batchItemFailures": []}
    assert result["written"] == [] and result["published"] == {}


def test_the_notifier_posts_the_sample_statuses(endpoint, stack):
    result = run(endpoint, stack, "notifier", "status-batch.json")
    assert result["response"] == {"batchItemFailures": []}
    posts = [json.loads(m["message"]) for m in result["published"]["ChatbotTopic"]]
    titles = sorted(p["content"]["title"] for p in posts)
    label = stack["functions"]["NotifierFunction"]["Environment"]["Variables"]["DEPLOYMENT_LABEL"]
    assert titles == sorted([f"✅ {label}: 1 original processed", f"⚠️ {label}: 1 original failed"]), titles


def test_the_edge_router_serves_cohort_3_its_version(endpoint, stack):
    result = run(endpoint, stack, "edge-router", "get-cohort-3.json")
    response = result["response"]
    assert response["statusCode"] == 200, response
    version = response["headers"]["x-media-edge-version"]
    assert version in ("1.0.0", "1.1.0")
    staged = EVENTS / "releases-bucket" / "releases" / "sdk" / version / "sdk.js"
    assert response["body"] == staged.read_text()
    assert response["headers"]["content-type"] == "text/javascript"


def test_the_release_controller_advances_the_sample_rollout(endpoint, origin_stack):
    result = run(endpoint, origin_stack, "release-controller", "schedule.json")
    changes = result["response"]["changes"]
    assert [(c["channel"], c["change"], c["weight_from"], c["weight_to"]) for c in changes] == [
        ("app", "advanced", 10, 50)]
    assert result["response"]["errors"] == []
    assert ("ReleasesBucket", "channels/app.json") in result["written"]
    announced = [json.loads(m["message"]) for m in result["published"]["StatusTopic"]]
    assert [(a["channel"], a["change"]) for a in announced] == [("app", "advanced")]


def test_sample_names_all_become_the_stacks(stack):
    for path in sorted(EVENTS.rglob("*.json")):
        text = invoke.point_at_stack(path.read_text(), stack)
        for sample, _ in invoke.SAMPLE_NAMES:
            assert sample not in text, (path, sample)
        # Only the schedule rules' ARNs keep the example account: no function reads them.
        left = re.sub(r"arn:aws:events:[a-z0-9-]+:123456789012:rule/[A-Za-z0-9-]+", "", text)
        assert "123456789012:media-edge-" not in left, path
