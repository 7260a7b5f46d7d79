"""The local edge (infra/emulator/edge): the template's CloudFront behaviours and functions in
front of a stack's buckets on the emulator, fetched over HTTP as a browser would.

- Format negotiation: a variant's one URL answers AVIF, WebP or the fallback by Accept, with the
  bytes and Content-Type of the object the function picked, for keys with a space, a `+` (%2B in
  the URL, as the manifest writes it), a `%` and Hangul; a literal `+` in a URL is a space, as S3
  reads it; the manifest's `<picture>` URLs all load through the edge.
- Releases: /sdk/sdk.js routed by cohort to canary or stable from the channel config in the
  releases bucket (or a KeyValueStore file), the cohort cookie and version headers set by the
  viewer-response function, a channel without an entry a 503, the deployed CohortCount in force;
  the probe channel of `media-edge doctor smoke` (/media-edge-probe/*) routed the same way while
  it is published, a 503 before and after.
- CloudFront's rules: the first behaviour that matches wins (a path two behaviours match), patterns
  are case-sensitive, methods outside AllowedMethods are refused, a function's own response skips
  the origin, a failing function is a 503, ReleaseRouting=origin sends releases to the router
  (which the emulator does not serve)."""
import html
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from infra.emulator import edge
from infra.tests import cfn

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is required for the local edge")

# Keys as the processor writes them: <original key>/<version>/<variant>.<ext>.
ORIGINALS = ["summer sale+2026 100%/한글 사진.jpg", "C++ logo.png"]
VERSION = "0123456789ab"
SDK = {"schema": "media-edge.channel", "version": 1, "channel": "sdk", "stable": "1.4.0", "canary": "1.5.0",
       "weight": 30, "history": []}
PROBE = "media-edge-probe"  # the reserved channel of `media-edge doctor smoke` (infra/template.in.yaml)

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
WEBP_ONLY = "image/webp,*/*"
NEITHER = "image/jpeg,image/png,*/*;q=0.5"


def url_for(key):
    """crates/image-processor/src/store/manifest.rs url_for: the key percent-encoded, `/` kept, `+` as %2B."""
    return "/" + urllib.parse.quote(key, safe="/")


class Edge:
    def __init__(self, config, tmp_path, kvs=None, access_log=None):
        path = tmp_path / f"edge-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(config))
        command = ["node", str(edge.SERVER), "--config", str(path), "--port", "0", "--quiet"]
        if kvs:
            command += ["--kvs", str(kvs)]
        if access_log:
            command += ["--access-log", str(access_log)]
        started = time.monotonic()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().strip()
        self.startup = time.monotonic() - started
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def get(self, path, headers=None, method="GET"):
        request = urllib.request.Request(self.url + path, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def close(self):
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def stack(stacks):
    d = stacks.deploy("media-edge-edge")
    s3 = stacks.client(d, "s3")
    variants, releases = d["outputs"]["VariantsBucketName"], d["outputs"]["ReleasesBucketName"]
    for original in ORIGINALS:
        fallback = "png" if original.endswith(".png") else "jpg"
        for ext, content_type in (("avif", "image/avif"), ("webp", "image/webp"), (fallback, f"image/{'png' if fallback == 'png' else 'jpeg'}")):
            s3.put_object(Bucket=variants, Key=f"{original}/{VERSION}/pc.{ext}", Body=f"{original}|{ext}".encode(),
                          ContentType=content_type, CacheControl="public, max-age=31536000, immutable")
    # A key a URL with a literal `+` resolves to (S3 reads it as a space): "C++ logo.png" is not it.
    s3.put_object(Bucket=variants, Key=f"C   logo.png/{VERSION}/pc.png", Body=b"spaces", ContentType="image/png")
    original = ORIGINALS[0]
    picture = (f'<picture><source type="image/avif" srcset="{html.escape(url_for(f"{original}/{VERSION}/pc.avif"))} 1920w">'
               f'<source type="image/webp" srcset="{html.escape(url_for(f"{original}/{VERSION}/pc.webp"))} 1920w">'
               f'<img src="{html.escape(url_for(f"{original}/{VERSION}/pc.jpg"))}" width="1920" height="1080"></picture>')
    s3.put_object(Bucket=variants, Key=f"{original}/manifest.json", ContentType="application/json",
                  CacheControl="public, max-age=60", Body=json.dumps({"picture": picture}).encode())
    s3.put_object(Bucket=variants, Key="promo/site.js", Body=b"variants-js", ContentType="text/javascript")
    s3.put_object(Bucket=variants, Key="SDK/sdk.js", Body=b"variants-SDK", ContentType="text/javascript")
    s3.put_object(Bucket=releases, Key="channels/sdk.json", Body=json.dumps(SDK).encode())
    for version in ("1.4.0", "1.5.0"):
        for file in ("sdk.js", "index.html", "x/manifest.json"):
            s3.put_object(Bucket=releases, Key=f"releases/sdk/{version}/{file}", Body=f"{version}:{file}".encode(),
                          ContentType="text/javascript", CacheControl="public, max-age=31536000, immutable")
    return d


@pytest.fixture(scope="module")
def local_edge(stack, tmp_path_factory):
    e = Edge(edge.edge_config(stack), tmp_path_factory.mktemp("edge"))
    yield e
    e.close()


# ---------------------------------------------------------------- the config

def test_the_config_is_the_templates_distribution_for_the_stack(stack):
    config = edge.edge_config(stack)
    patterns = [b["pathPattern"] for b in config["behaviours"]]
    assert patterns == ["/sdk", "/sdk/*", "/app", "/app/*", f"/{PROBE}/*", "*/manifest.json", "*.html", "*.css",
                        "*.js", "*"]
    by_pattern = {b["pathPattern"]: b for b in config["behaviours"]}
    assert {k: v for k, v in by_pattern[f"/{PROBE}/*"].items() if k != "pathPattern"} == \
        {k: v for k, v in by_pattern["/sdk/*"].items() if k != "pathPattern"}
    assert config["origins"]["variants"]["bucket"] == stack["outputs"]["VariantsBucketName"]
    assert config["origins"]["releases"]["bucket"] == stack["outputs"]["ReleasesBucketName"]
    assert config["origins"]["router"]["type"] == "unavailable"
    default = config["behaviours"][-1]
    assert default["functions"] == {"viewer-request": {"function": "FormatNegotiationFunction"}}
    assert default["responseHeaders"] == [{"header": "Vary", "value": "Accept", "override": False}]
    assert config["behaviours"][1]["functions"] == {"viewer-request": {"function": "ReleaseEdgeRequestFunction"},
                                                    "viewer-response": {"function": "ReleaseEdgeResponseFunction"}}
    # The code the template inlines, with the stack's CohortCount.
    code = config["functions"]["ReleaseEdgeRequestFunction"]["code"]
    assert "var COHORTS = 100;" in code and "import cf from 'cloudfront';" in code
    # What the bucket policies let this distribution read (ListBucket: a missing key is a 404).
    assert config["origins"]["variants"]["access"] == {"policy": "VariantsBucketPolicy", "get": ["*"], "deny_get": [], "list": True}
    assert config["origins"]["releases"]["access"] == {"policy": "ReleasesBucketPolicy", "get": ["releases/*"], "deny_get": [], "list": True}
    assert config["stores"]["ReleaseStore"] == {"source": "channel-configs", "bucket": stack["outputs"]["ReleasesBucketName"],
                                                "prefix": "channels/", "suffix": ".json"}


# ---------------------------------------------------------------- variants

@pytest.mark.parametrize("original", ORIGINALS)
@pytest.mark.parametrize("accept, picked", [(CHROME, "avif"), (WEBP_ONLY, "webp"), (NEITHER, "fallback"), (None, "fallback")])
def test_a_variants_one_url_is_negotiated_by_accept(local_edge, original, accept, picked):
    fallback = "png" if original.endswith(".png") else "jpg"
    ext = fallback if picked == "fallback" else picked
    status, headers, body = local_edge.get(url_for(f"{original}/{VERSION}/pc.{fallback}"), {"Accept": accept} if accept else {})
    assert status == 200, body
    assert body == f"{original}|{ext}".encode()
    assert headers["Content-Type"] == {"avif": "image/avif", "webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}[ext]
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Vary"] == "Accept"  # MediaResponseHeadersPolicy
    assert headers["x-local-edge-behavior"] == "*"
    assert headers["Access-Control-Allow-Origin"] is None  # moto's, not S3's (no CORS configuration)


def test_a_literal_plus_in_a_url_is_a_space_as_s3_reads_it(local_edge):
    status, _, body = local_edge.get(f"/C++ logo.png/{VERSION}/pc.png".replace(" ", "%20"), {"Accept": NEITHER})
    assert (status, body) == (200, b"spaces")
    status, _, body = local_edge.get(f"/C%2B%2B%20logo.png/{VERSION}/pc.png", {"Accept": NEITHER})
    assert (status, body) == (200, b"C++ logo.png|png")


def test_the_manifests_picture_loads_through_the_edge(local_edge):
    original = ORIGINALS[0]
    status, headers, body = local_edge.get(url_for(f"{original}/manifest.json"))
    assert status == 200 and headers["x-local-edge-behavior"] == "*/manifest.json"
    assert headers["Cache-Control"] == "public, max-age=60"
    picture = json.loads(body)["picture"]
    urls = [html.unescape(u).split(" ")[0] for u in re.findall(r'(?:srcset|src)="([^"]+)"', picture)]
    assert len(urls) == 3
    for url in urls:
        status, headers, body = local_edge.get(url, {"Accept": CHROME})
        ext = url.rsplit(".", 1)[1]
        # Explicit .avif/.webp URLs pass untouched; the fallback URL is negotiated (AVIF for Chrome).
        assert status == 200 and body == f"{original}|{'avif' if ext == 'jpg' else ext}".encode(), url


def test_a_missing_variant_is_s3s_404(local_edge):
    status, headers, _ = local_edge.get(url_for(f"nothing here.jpg/{VERSION}/pc.jpg"))
    assert status == 404 and headers["Vary"] == "Accept"  # the policy's header on errors too


# ---------------------------------------------------------------- releases

def test_a_release_is_routed_by_cohort_from_the_channel_config(local_edge):
    for cohort in (0, 29, 30, 99):
        status, headers, body = local_edge.get("/sdk/sdk.js", {"Cookie": f"me_cohort=100-{cohort}"})
        version = "1.5.0" if cohort < 30 else "1.4.0"
        assert (status, body) == (200, f"{version}:sdk.js".encode()), cohort
        assert headers["x-media-edge-version"] == version
        assert headers["x-media-edge-channel-kind"] == ("canary" if cohort < 30 else "stable")
        assert headers["Cache-Control"] == "public, max-age=60"  # the viewer-response function's
        assert headers["x-local-edge-log-data"] == f"release=sdk;kind={headers['x-media-edge-channel-kind']};version={version};cohort={cohort}"
        assert headers.get("Set-Cookie") is None  # the cookie it has is the one it would get
    # No cookie: the cohort is derived (no TLS fingerprint here, the viewer's network) and set.
    status, headers, _ = local_edge.get("/sdk/sdk.js")
    cohort = int(headers["x-media-edge-cohort"])
    assert headers["Set-Cookie"].startswith(f"me_cohort=100-{cohort}; Path=/; Max-Age=31536000; Secure; HttpOnly")
    # The bare channel root is its own behaviour, served as the version's index.html.
    status, headers, body = local_edge.get("/sdk", {"Cookie": "me_cohort=100-50"})
    assert (status, body, headers["x-local-edge-behavior"]) == (200, b"1.4.0:index.html", "/sdk")


def test_no_viewer_response_function_runs_on_an_origin_error(local_edge):
    status, headers, _ = local_edge.get("/sdk/missing.js", {"Cookie": "me_cohort=100-50"})
    assert status == 404 and headers["x-local-edge-origin"] == "releases releases/sdk/1.4.0/missing.js"
    assert headers["x-media-edge-version"] is None and headers["Set-Cookie"] is None


def test_a_channel_without_an_entry_is_a_503_from_the_function(local_edge):
    status, headers, body = local_edge.get("/app/app.js")
    assert (status, body) == (503, b"release channel unavailable\n")
    assert headers["Cache-Control"] == "no-store" and "x-local-edge-origin" not in headers


def test_the_probe_channel_is_served_only_while_it_is_published(stacks, stack, local_edge):
    # What `media-edge doctor smoke` does on a deployed stack, through the local edge: nothing there
    # before, two versions at a 50% canary split by cohort, nothing again once the channel is gone.
    def probe(cohort):
        return local_edge.get(f"/{PROBE}/probe.txt", {"Cookie": f"me_cohort=100-{cohort}"})

    status, headers, body = probe(0)
    assert (status, body, headers["x-local-edge-behavior"]) == (503, b"release channel unavailable\n", f"/{PROBE}/*")
    s3, releases = stacks.client(stack, "s3"), stack["outputs"]["ReleasesBucketName"]
    keys = [f"channels/{PROBE}.json"] + [f"releases/{PROBE}/{v}/probe.txt" for v in ("0.0.1-probe", "0.0.2-probe")]
    s3.put_object(Bucket=releases, Key=keys[0], Body=json.dumps(
        {**SDK, "channel": PROBE, "stable": "0.0.1-probe", "canary": "0.0.2-probe", "weight": 50}).encode())
    for key in keys[1:]:
        s3.put_object(Bucket=releases, Key=key, Body=key.split("/")[2].encode(), ContentType="text/plain")
    try:
        for cohort, version, kind in ((0, "0.0.2-probe", "canary"), (49, "0.0.2-probe", "canary"),
                                      (50, "0.0.1-probe", "stable"), (99, "0.0.1-probe", "stable")):
            status, headers, body = probe(cohort)
            assert (status, body) == (200, version.encode()), cohort
            assert (headers["x-media-edge-version"], headers["x-media-edge-channel-kind"]) == (version, kind)
            assert headers["x-local-edge-origin"] == f"releases releases/{PROBE}/{version}/probe.txt"
    finally:
        for key in keys:
            s3.delete_object(Bucket=releases, Key=key)
    assert probe(0)[0] == 503


def test_a_path_the_function_refuses_never_reaches_the_origin(local_edge):
    status, headers, _ = local_edge.get("/sdk/%2e%2e/channels/sdk.json")
    assert status == 400 and "x-local-edge-origin" not in headers


def test_the_store_can_come_from_a_file_and_is_read_per_request(stack, tmp_path):
    kvs = tmp_path / "kvs.json"
    kvs.write_text(json.dumps({"sdk": {"stable": "1.4.0", "canary": "1.5.0", "weight": 0}}))
    e = Edge(edge.edge_config(stack), tmp_path, kvs=kvs)
    try:
        assert e.get("/sdk/sdk.js", {"Cookie": "me_cohort=100-0"})[2] == b"1.4.0:sdk.js"
        kvs.write_text(json.dumps({"sdk": {"stable": "1.4.0", "canary": "1.5.0", "weight": 1}}))
        assert e.get("/sdk/sdk.js", {"Cookie": "me_cohort=100-0"})[2] == b"1.5.0:sdk.js"
        assert e.get("/sdk/sdk.js", {"Cookie": "me_cohort=100-1"})[2] == b"1.4.0:sdk.js"
    finally:
        e.close()


def test_the_deployed_cohort_count_is_in_force(stacks, tmp_path):
    d = stacks.deploy("media-edge-edge20", parameters={"CohortCount": "20"})
    s3, releases = stacks.client(d, "s3"), d["outputs"]["ReleasesBucketName"]
    s3.put_object(Bucket=releases, Key="channels/sdk.json", Body=json.dumps(SDK).encode())
    for version in ("1.4.0", "1.5.0"):
        s3.put_object(Bucket=releases, Key=f"releases/sdk/{version}/sdk.js", Body=version.encode())
    e = Edge(edge.edge_config(d), tmp_path)
    try:
        # 30% of 20 cohorts: 0-5 canary. A cookie of the 100-cohort deployment is not trusted.
        _, headers, _ = e.get("/sdk/sdk.js", {"Cookie": "me_cohort=20-5"})
        assert (headers["x-media-edge-cohort"], headers["x-media-edge-version"]) == ("5", "1.5.0")
        _, headers, _ = e.get("/sdk/sdk.js", {"Cookie": "me_cohort=20-6"})
        assert headers["x-media-edge-version"] == "1.4.0"
        _, headers, _ = e.get("/sdk/sdk.js", {"Cookie": "me_cohort=100-50"})
        assert headers["Set-Cookie"].startswith("me_cohort=20-")
    finally:
        e.close()


# ---------------------------------------------------------------- CloudFront's rules

@pytest.mark.parametrize("path, behaviour, origin_key", [
    # /sdk/* comes before */manifest.json: the release function rewrites it into the releases bucket.
    ("/sdk/x/manifest.json", "/sdk/*", "releases releases/sdk/1.4.0/x/manifest.json"),
    ("/sdk/index.html", "/sdk/*", "releases releases/sdk/1.4.0/index.html"),
    ("/promo/site.js", "*.js", "variants promo/site.js"),
    # Case-sensitive: /SDK/ is not /sdk/*, so *.js takes it, from the variants bucket.
    ("/SDK/sdk.js", "*.js", "variants SDK/sdk.js"),
])
def test_the_first_matching_behaviour_wins(local_edge, path, behaviour, origin_key):
    status, headers, _ = local_edge.get(path, {"Cookie": "me_cohort=100-99"})
    assert status == 200
    assert (headers["x-local-edge-behavior"], headers["x-local-edge-origin"]) == (behaviour, origin_key)


def test_methods_outside_allowed_methods_are_refused(local_edge):
    status, _, _ = local_edge.get(url_for(f"{ORIGINALS[0]}/{VERSION}/pc.jpg"), method="POST")
    assert status == 403
    status, headers, body = local_edge.get(url_for(f"{ORIGINALS[0]}/{VERSION}/pc.jpg"), {"Accept": CHROME}, method="HEAD")
    assert (status, body, headers["Content-Type"]) == (200, b"", "image/avif")


def test_a_failing_function_is_a_503(stack, tmp_path):
    config = edge.edge_config(stack)
    config["functions"]["FormatNegotiationFunction"]["code"] = "function handler(event) { return undefinedThing.x; }"
    e = Edge(config, tmp_path)
    try:
        status, _, body = e.get(url_for(f"{ORIGINALS[0]}/{VERSION}/pc.jpg"))
        assert status == 503 and b"FormatNegotiationFunction failed" in body
    finally:
        e.close()


def _policy_statement(template, policy, sid):
    statements = template["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"]
    for i, st in enumerate(statements):
        body = st["Fn::If"][1] if isinstance(st, dict) and "Fn::If" in st else st
        if body.get("Sid") == sid:
            return statements, i, body
    raise KeyError(sid)


def _release_reads_elsewhere(template):
    _, _, st = _policy_statement(template, "ReleasesBucketPolicy", "CloudFrontReadsReleasesThroughOac")
    st["Resource"] = {"Fn::Sub": "${ReleasesBucket.Arn}/published/*"}


def _variants_not_listed(template):
    statements, i, _ = _policy_statement(template, "VariantsBucketPolicy", "CloudFrontListsThroughOac")
    del statements[i]


def _variants_without_oac(template):
    origins = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["Origins"]
    del next(o for o in origins if o["Id"] == "variants")["OriginAccessControlId"]


@pytest.mark.parametrize("mutation, path, expected", [
    # The policy grants release files elsewhere than the function rewrites to: every release is a 403.
    (_release_reads_elsewhere, "/sdk/sdk.js", 403),
    # Without ListBucket S3 answers a missing variant with 403, a present one still with 200.
    (_variants_not_listed, url_for(f"nothing here.jpg/{VERSION}/pc.jpg"), 403),
    (_variants_not_listed, url_for(f"{ORIGINALS[0]}/{VERSION}/pc.jpg"), 200),
    # Without origin access control CloudFront's request is anonymous: the private bucket refuses it.
    (_variants_without_oac, url_for(f"{ORIGINALS[0]}/{VERSION}/pc.jpg"), 403),
])
def test_a_template_whose_bucket_policy_or_origin_access_is_wrong_shows_at_the_edge(stack, local_edge, tmp_path, mutation,
                                                                                     path, expected):
    template = cfn.load(stack["stack"]["template"])
    mutation(template)
    broken = tmp_path / "template.json"
    broken.write_text(json.dumps(template))
    e = Edge(edge.edge_config(stack, broken), tmp_path)
    try:
        status, _, body = e.get(path, {"Cookie": "me_cohort=100-50"})
        assert status == expected, body
        if expected == 403 and mutation is not _variants_without_oac:  # (moto's own 403 has no body)
            assert b"<Code>AccessDenied</Code>" in body
    finally:
        e.close()
    # The template as it is serves the same request (or says it is missing).
    assert local_edge.get(path, {"Cookie": "me_cohort=100-50"})[0] in (200, 404)


def test_release_routing_at_the_origin_goes_to_the_router(stacks, tmp_path):
    d = stacks.deploy("media-edge-edge-origin", parameters={"ReleaseRouting": "origin"})
    config = edge.edge_config(d)
    assert config["behaviours"][1]["functions"] == {"viewer-request": {"function": "CohortViewerRequestFunction"},
                                                    "viewer-response": {"function": "CohortViewerResponseFunction"}}
    e = Edge(config, tmp_path)
    try:
        status, headers, body = e.get("/sdk/sdk.js")
        assert status == 502 and b"EdgeRouterFunctionUrl is not served on the emulator" in body
        assert headers["x-local-edge-behavior"] == "/sdk/*"
        status, headers, body = e.get(f"/{PROBE}/probe.txt")
        assert status == 502 and b"EdgeRouterFunctionUrl is not served on the emulator" in body
        assert headers["x-local-edge-behavior"] == f"/{PROBE}/*"
    finally:
        e.close()


def test_startup_and_request_cost(stack, local_edge, tmp_path):
    started = time.monotonic()
    config = edge.edge_config(stack)
    generated = time.monotonic() - started
    url = url_for(f"{ORIGINALS[0]}/{VERSION}/pc.jpg")
    started = time.monotonic()
    for _ in range(20):
        assert local_edge.get(url, {"Accept": CHROME})[0] == 200
    per_request = (time.monotonic() - started) / 20
    started = time.monotonic()
    for _ in range(20):
        assert local_edge.get("/sdk/sdk.js", {"Cookie": "me_cohort=100-7"})[0] == 200
    per_release = (time.monotonic() - started) / 20
    print(f"local edge: config {generated:.2f} s, server start {local_edge.startup:.2f} s, "
          f"{per_request * 1000:.1f} ms per negotiated variant request, {per_release * 1000:.1f} ms per release request")
    assert config and local_edge.startup < 5 and per_request < 0.5 and per_release < 0.5
