"""Which cache behaviour CloudFront applies to a request path, checked over the rendered template.

CloudFront's rule (Amazon CloudFront Developer Guide, "Cache behavior settings" → "Path pattern",
https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html#DownloadDistValuesPathPattern,
and the API reference for CacheBehavior.PathPattern): the request path is compared with the path
patterns in the order the cache behaviours are listed and the first match wins; the default
behaviour (`*`) is always last. `*` matches 0 or more characters (`/` included), `?` exactly one;
patterns are case-sensitive; a pattern behaves the same with or without its leading `/`
(cfn.pattern_matches and cfn.behaviour_for)."""
import re

import pytest

import cfn

TEMPLATE = cfn.rendered()
# As deployed in each ReleaseRouting mode (the release behaviours differ; nothing else does).
DISTRIBUTIONS = {mode: cfn.distribution_config(TEMPLATE, ReleaseRouting=mode) for mode in ("edge", "origin")}
DISTRIBUTION = DISTRIBUTIONS["edge"]


pattern_matches = cfn.pattern_matches  # the matcher lives in cfn.py, shared with other tests


def behaviour_for(path, mode="edge"):
    return cfn.behaviour_for(DISTRIBUTIONS[mode], path)


def summary(behaviour):
    return (
        behaviour["TargetOriginId"],
        cfn.ref_name(behaviour.get("CachePolicyId")),
        cfn.ref_name(behaviour.get("OriginRequestPolicyId")),
        cfn.function_associations(behaviour),
        cfn.ref_name(behaviour.get("ResponseHeadersPolicyId")),
    )


COHORT_FUNCTIONS = {
    ("viewer-request", "CohortViewerRequestFunction"),
    ("viewer-response", "CohortViewerResponseFunction"),
}
# Variants: the fallback URL of a still variant is negotiated to AVIF/WebP (test_format_negotiation).
MEDIA = ("variants", "MediaCachePolicy", None, {("viewer-request", "FormatNegotiationFunction")},
         "MediaResponseHeadersPolicy")
TEXT = ("variants", "TextCachePolicy", None, set(), None)
EDGE_FUNCTIONS = {
    ("viewer-request", "ReleaseEdgeRequestFunction"),
    ("viewer-response", "ReleaseEdgeResponseFunction"),
}
# Release channels, by ReleaseRouting: the edge functions and the releases bucket, cached by the
# version's path; or the cohort functions and the router, cached by path and cohort.
RELEASE_BY_MODE = {
    "edge": ("releases", "ReleaseVersionCachePolicy", "ReleaseEdgeOriginRequestPolicy", EDGE_FUNCTIONS, None),
    "origin": ("router", "ReleaseCachePolicy", "RouterOriginRequestPolicy", COHORT_FUNCTIONS, None),
}
RELEASE = "release"  # stands for RELEASE_BY_MODE[mode] in CASES

CASES = [
    # variants: immutable keys <path>/<version>/<variant>.<ext>
    ("/photos/a.jpg/0123456789ab/pc.jpg", MEDIA),
    ("/photos/a.jpg/0123456789ab/thumbnail.png", MEDIA),
    ("/photos/a.gif/0123456789ab/video.mp4", MEDIA),
    ("/photos/a.gif/0123456789ab/video-mobile.mp4", MEDIA),
    ("/photos/a.jpg/0123456789ab/pc.avif", MEDIA),
    ("/photos/a.jpg/0123456789ab/pc.webp", MEDIA),
    ("/photos/a.gif/0123456789ab/animation.webp", MEDIA),
    ("/a.jpg/0123456789ab/pc.jpg", MEDIA),
    # manifests, HTML/CSS/JS outside the release channels
    ("/photos/a.jpg/manifest.json", TEXT),
    ("/a.jpg/manifest.json", TEXT),
    ("/photos/widget.js", TEXT),
    ("/lib.js/0123456789ab/pc.js", TEXT),
    ("/sdk-old/sdk.js", TEXT),
    ("/sdkx/v1/sdk.js", TEXT),
    ("/SDK/sdk.js", TEXT),  # patterns are case-sensitive
    ("/App/index.html", TEXT),
    ("/photos/index.html", TEXT),
    ("/styles/site.css", TEXT),
    # release channels: the router, with the cohort functions, whatever the file type
    ("/sdk/sdk.js", RELEASE),
    ("/sdk/v1/sdk.js", RELEASE),
    ("/sdk/v1/manifest.json", RELEASE),
    ("/sdk/v1/logo.png", RELEASE),
    ("/app/index.html", RELEASE),
    ("/app/assets/x.css", RELEASE),
    ("/app/assets/app.js", RELEASE),
    ("/app/docs/", RELEASE),
    ("/sdk/", RELEASE),
    ("/app/", RELEASE),
    ("/sdk", RELEASE),  # bare channel roots: the router serves <channel>/index.html
    ("/app", RELEASE),
    # the reserved probe channel of `media-edge doctor smoke`: files only, no bare root
    ("/media-edge-probe/probe.txt", RELEASE),
    ("/media-edge-probe/index.html", RELEASE),
    ("/media-edge-probe/v1/probe.js", RELEASE),
    ("/media-edge-probe/x/manifest.json", RELEASE),
    ("/media-edge-probe", MEDIA),
    ("/media-edge-probex/probe.js", TEXT),
    ("/media-edge-probe/a.jpg/0123456789ab/pc.jpg", RELEASE),  # so uploads/media-edge-probe/… are not reachable
]


@pytest.mark.parametrize("mode", ["edge", "origin"])
@pytest.mark.parametrize("path,expected", CASES, ids=[c[0] for c in CASES])
def test_path_reaches_the_right_origin_policy_and_functions(path, expected, mode):
    behaviour = behaviour_for(path, mode)
    expected = RELEASE_BY_MODE[mode] if expected == RELEASE else expected
    assert summary(behaviour) == expected, f"{path} matched {behaviour.get('PathPattern', 'default (*)')}"


@pytest.mark.parametrize("mode", ["edge", "origin"])
def test_every_default_release_channel_has_behaviours(mode):
    # The behaviours are static while ReleaseChannels is a parameter: at least the default
    # channels must be routed, root and files alike.
    channels = TEMPLATE["Parameters"]["ReleaseChannels"]["Default"].split(",")
    assert channels
    for channel in channels:
        for path in (f"/{channel}", f"/{channel}/", f"/{channel}/index.html", f"/{channel}/v1/x.js"):
            assert summary(behaviour_for(path, mode)) == RELEASE_BY_MODE[mode], path


@pytest.mark.parametrize("mode", ["edge", "origin"])
def test_release_behaviours_all_carry_their_mode_setup(mode):
    for behaviour in DISTRIBUTIONS[mode]["CacheBehaviors"]:
        if behaviour["TargetOriginId"] in ("router", "releases"):
            assert summary(behaviour) == RELEASE_BY_MODE[mode], behaviour["PathPattern"]


PROBE_CHANNEL = "media-edge-probe"
PROBE_PATTERN = f"/{PROBE_CHANNEL}/*"
# As written: a behaviour that exists under a condition (the legacy paths) is an !If, not a dict.
RAW_BEHAVIOURS = TEMPLATE["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
RELEASE_ORIGIN = {"Fn::If": ["RoutesAtEdge", "releases", "router"]}


def test_the_probe_channel_has_one_behaviour_set_up_as_sdk():
    # `media-edge doctor smoke` proves a deployed stack routes releases through a channel of its
    # own: its behaviour must be exactly a real channel's, in both ReleaseRouting modes.
    (probe,) = [b for b in RAW_BEHAVIOURS if PROBE_CHANNEL in b.get("PathPattern", "")]
    (sdk,) = [b for b in RAW_BEHAVIOURS if b.get("PathPattern") == "/sdk/*"]
    assert probe["PathPattern"] == PROBE_PATTERN
    assert {k: v for k, v in probe.items() if k != "PathPattern"} == {k: v for k, v in sdk.items() if k != "PathPattern"}
    for mode, config in DISTRIBUTIONS.items():
        by_pattern = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
        assert summary(by_pattern[PROBE_PATTERN]) == summary(by_pattern["/sdk/*"]) == RELEASE_BY_MODE[mode], mode


def test_the_probe_behaviour_comes_before_the_first_non_release_behaviour():
    # CloudFront takes the first match: after `*/manifest.json` or `*.js` the probe's files would
    # go to the variants bucket.
    patterns = [b.get("PathPattern") for b in RAW_BEHAVIOURS]
    first_other = next(i for i, b in enumerate(RAW_BEHAVIOURS) if b.get("TargetOriginId") != RELEASE_ORIGIN)
    assert patterns.index(PROBE_PATTERN) < first_other, patterns
    assert patterns.index(PROBE_PATTERN) == patterns.index("/app/*") + 1, patterns


def _channels(function, **parameters):
    value = TEMPLATE["Resources"][function]["Properties"]["Environment"]["Variables"]["CHANNELS"]
    return cfn.evaluate(value, cfn.parameters(TEMPLATE, **parameters)).split(",")


@pytest.mark.parametrize("parameters", [{}, {"ReleaseChannels": "docs"}])
def test_the_router_serves_the_probe_channel_and_the_controller_never_looks_after_it(parameters):
    # With ReleaseRouting=origin the router answers 404 for a channel outside its CHANNELS. The
    # release controller announces channel changes to Slack: the probe must never be one of its.
    released = (parameters.get("ReleaseChannels") or TEMPLATE["Parameters"]["ReleaseChannels"]["Default"]).split(",")
    assert _channels("EdgeRouterFunction", **parameters) == released + [PROBE_CHANNEL]
    assert _channels("ReleaseControllerFunction", **parameters) == released
    assert PROBE_CHANNEL not in released


# Quota "Cache behaviors per distribution" (CloudFront Developer Guide, "Quotas" → "General quotas
# on distributions"): 75 by default today, 25 for years before; the template keeps within the
# smaller, the default behaviour counted too.
CACHE_BEHAVIOURS_QUOTA = 25


@pytest.mark.parametrize("mode", ["edge", "origin"])
def test_the_cache_behaviours_fit_the_quota(mode):
    assert len(DISTRIBUTIONS[mode]["CacheBehaviors"]) + 1 <= CACHE_BEHAVIOURS_QUOTA


def test_edge_routing_is_the_default():
    assert TEMPLATE["Parameters"]["ReleaseRouting"]["Default"] == "edge"


def test_matcher_follows_the_documented_wildcards():
    assert pattern_matches("*.jpg", "/a/b/c.jpg")
    assert pattern_matches("/images/*.jpg", "/images/a/b.jpg")
    assert not pattern_matches("*.jpg", "/A.JPG")
    assert pattern_matches("/a?c", "/abc") and not pattern_matches("/a?c", "/ac")
    assert pattern_matches("images/*", "/images/x") == pattern_matches("/images/*", "/images/x")
    assert not pattern_matches("/sdk/*", "/sdk")


def _cloudfront_headers_read_by(function_name):
    """The CloudFront-added headers (CloudFront-Viewer-*, CloudFront-Is-*, CloudFront-Forwarded-Proto)
    a CloudFront Function's deployed code reads, lowercase as CloudFront Functions see header names."""
    code = TEMPLATE["Resources"][function_name]["Properties"]["FunctionCode"]
    text = code["Fn::Sub"] if isinstance(code, dict) else code
    return set(re.findall(r"""['"](cloudfront-[a-z0-9-]+)['"]""", text))


def _policy_headers(policy_name, config_key, parameters_key):
    if policy_name is None:
        return set()
    config = TEMPLATE["Resources"][policy_name]["Properties"][config_key]
    if parameters_key:
        config = config[parameters_key]
    headers = config["HeadersConfig"]
    return {h.lower() for h in headers.get("Headers", [])}


@pytest.mark.parametrize("mode", ["edge", "origin"])
def test_functions_get_the_cloudfront_headers_they_read(mode):
    # CloudFront adds its viewer headers (CloudFront-Viewer-JA3-Fingerprint,
    # CloudFront-Viewer-JA4-Fingerprint, ...) to the request an edge function sees only when the
    # behaviour's cache policy or origin request policy names them (CloudFront Developer Guide,
    # "Add CloudFront request headers"); otherwise cohort.js hashes '-' for every viewer and a
    # whole /24 shares one cohort. The Node tests inject them; this checks production sends them.
    checked = 0
    for behaviour in [DISTRIBUTIONS[mode]["DefaultCacheBehavior"], *DISTRIBUTIONS[mode]["CacheBehaviors"]]:
        forwarded = _policy_headers(cfn.ref_name(behaviour.get("CachePolicyId")), "CachePolicyConfig",
                                    "ParametersInCacheKeyAndForwardedToOrigin")
        forwarded |= _policy_headers(cfn.ref_name(behaviour.get("OriginRequestPolicyId")),
                                     "OriginRequestPolicyConfig", None)
        for event_type, function in cfn.function_associations(behaviour):
            read = _cloudfront_headers_read_by(function)
            missing = read - forwarded
            assert not missing, f"{behaviour.get('PathPattern', '*')} ({function}): {sorted(missing)} never sent"
            checked += len(read)
    assert checked  # the cohort functions read the fingerprints


def test_edge_release_fingerprints_stay_out_of_the_cache_key():
    # ReleaseRouting=edge caches a file by the version's path alone (two copies per file): the
    # fingerprints come through the origin request policy, never the cache policy.
    cache = TEMPLATE["Resources"]["ReleaseVersionCachePolicy"]["Properties"]["CachePolicyConfig"]
    assert cache["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"] == {"HeaderBehavior": "none"}
    policy = TEMPLATE["Resources"]["ReleaseEdgeOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    assert policy["HeadersConfig"] == {"HeaderBehavior": "whitelist", "Headers": [
        "CloudFront-Viewer-JA3-Fingerprint", "CloudFront-Viewer-JA4-Fingerprint"]}
    assert policy["CookiesConfig"] == {"CookieBehavior": "none"}
    assert policy["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    for behaviour in DISTRIBUTIONS["edge"]["CacheBehaviors"]:
        if behaviour["TargetOriginId"] == "releases":
            assert cfn.ref_name(behaviour["OriginRequestPolicyId"]) == "ReleaseEdgeOriginRequestPolicy"
