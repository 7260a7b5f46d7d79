"""Which cache behaviour CloudFront applies to a request path, checked over the rendered template.

CloudFront's rule (Amazon CloudFront Developer Guide, "Cache behavior settings" → "Path pattern",
https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html#DownloadDistValuesPathPattern,
and the API reference for CacheBehavior.PathPattern): the request path is compared with the path
patterns in the order the cache behaviours are listed and the first match wins; the default
behaviour (`*`) is always last. `*` matches 0 or more characters (`/` included), `?` exactly one;
patterns are case-sensitive; a pattern behaves the same with or without its leading `/`
(cfn.pattern_matches and cfn.behaviour_for)."""
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
    "edge": ("releases", "ReleaseVersionCachePolicy", None, EDGE_FUNCTIONS, None),
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


def test_edge_routing_is_the_default():
    assert TEMPLATE["Parameters"]["ReleaseRouting"]["Default"] == "edge"


def test_matcher_follows_the_documented_wildcards():
    assert pattern_matches("*.jpg", "/a/b/c.jpg")
    assert pattern_matches("/images/*.jpg", "/images/a/b.jpg")
    assert not pattern_matches("*.jpg", "/A.JPG")
    assert pattern_matches("/a?c", "/abc") and not pattern_matches("/a?c", "/ac")
    assert pattern_matches("images/*", "/images/x") == pattern_matches("/images/*", "/images/x")
    assert not pattern_matches("/sdk/*", "/sdk")
