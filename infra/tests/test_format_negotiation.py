"""Format negotiation at the edge (docs/pipeline.md): a still variant's fallback URL
(<path>/<version>/<variant>.jpg or .png) reaches the variants bucket through the default behaviour,
whose viewer-request function (crates/edge-router/cloudfront/format-negotiation.js, tested under
Node) rewrites it to the .avif or .webp key by Accept. The rewritten URI is the cache key, so the
cache policy must not add Accept to it; viewers get Vary: Accept from the behaviour's response
headers policy. Manifests and release paths are not negotiated."""
import pytest

import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]
DISTRIBUTION = cfn.distribution_config(TEMPLATE)  # as deployed with the default parameters
SOURCE = cfn.ROOT / "crates/edge-router/cloudfront/format-negotiation.js"
NEGOTIATION = ("viewer-request", "FormatNegotiationFunction")

VARIANT_PATHS = [
    "/campaign/banner.jpg/0123456789ab/pc.jpg",
    "/campaign/logo.png/0123456789ab/thumbnail.png",
    "/campaign/anim.gif/0123456789ab/poster.jpg",
    "/a.jpg/0123456789ab/mobile.jpg",
    "/output-prefix/deep/path/photo.jpeg/abcdef012345/tablet.jpg",  # OUTPUT_PREFIX set
    "/campaign/index.html.jpg/0123456789ab/pc.jpg",
    "/campaign/app.js/0123456789ab/pc.jpg",
]
NOT_NEGOTIATED = [
    "/campaign/banner.jpg/manifest.json",
    "/sdk/v1/logo.png",
    "/sdk/x.jpg/0123456789ab/pc.jpg",  # looks like a variant, but the channel's behaviour comes first
    "/app/img/0123456789ab/hero.jpg",
    "/app/index.html",
    "/app",
    "/sdk",
    "/campaign/widget.js",
    "/styles/site.css",
]


def behaviour(path):
    return cfn.behaviour_for(DISTRIBUTION, path)


def vary_headers(policy_name):
    config = RESOURCES[policy_name]["Properties"]["ResponseHeadersPolicyConfig"]
    return [h for h in config.get("CustomHeadersConfig", {}).get("Items", []) if h["Header"].lower() == "vary"]


@pytest.mark.parametrize("path", VARIANT_PATHS)
def test_a_variant_path_is_negotiated_and_says_vary_accept(path):
    b = behaviour(path)
    assert "PathPattern" not in b, f"{path} matched {b['PathPattern']}, not the default behaviour"
    assert b["TargetOriginId"] == "variants"
    origin = next(o for o in DISTRIBUTION["Origins"] if o["Id"] == "variants")
    assert cfn.ref_name(origin["DomainName"]) == "VariantsBucket"
    assert cfn.function_associations(b) == {NEGOTIATION}
    policy = cfn.ref_name(b.get("ResponseHeadersPolicyId"))
    assert policy and RESOURCES[policy]["Type"] == "AWS::CloudFront::ResponseHeadersPolicy"
    (vary,) = vary_headers(policy)
    assert [v.strip().lower() for v in vary["Value"].split(",")] == ["accept"]


@pytest.mark.parametrize("path", NOT_NEGOTIATED)
def test_manifests_and_release_paths_are_not_negotiated(path):
    b = behaviour(path)
    assert "PathPattern" in b, f"{path} reached the default behaviour"
    assert NEGOTIATION not in cfn.function_associations(b)
    assert cfn.ref_name(b.get("ResponseHeadersPolicyId")) != "MediaResponseHeadersPolicy"


def test_only_the_default_behaviour_negotiates():
    for b in DISTRIBUTION["CacheBehaviors"]:
        assert NEGOTIATION not in cfn.function_associations(b), b["PathPattern"]
        assert not b.get("ResponseHeadersPolicyId") or not vary_headers(cfn.ref_name(b["ResponseHeadersPolicyId"]))


def test_the_cache_key_does_not_include_accept():
    # The function puts the negotiated format in the URI; Accept in the key would cache one copy
    # per distinct browser value instead of at most three per variant.
    b = DISTRIBUTION["DefaultCacheBehavior"]
    policy = RESOURCES[cfn.ref_name(b["CachePolicyId"])]
    assert cfn.ref_name(b["CachePolicyId"]) == "MediaCachePolicy"
    params = policy["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
    headers = params["HeadersConfig"]
    assert headers["HeaderBehavior"] in ("none", "whitelist")
    assert "accept" not in [h.lower() for h in headers.get("Headers", [])]
    assert params["QueryStringsConfig"]["QueryStringBehavior"] == "none"
    assert params["CookiesConfig"]["CookieBehavior"] == "none"
    # Nor is Accept forwarded to the bucket some other way (S3 would ignore it anyway).
    assert "OriginRequestPolicyId" not in b
    # No cache policy of the template keys on Accept at all.
    for name, p in cfn.resources_of(TEMPLATE, "AWS::CloudFront::CachePolicy").items():
        h = p["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"]
        assert "accept" not in [x.lower() for x in h.get("Headers", [])], name


def test_vary_does_not_replace_a_vary_the_response_has():
    # Override false: a Vary from the origin (S3 sends one only for CORS) or from CloudFront's own
    # compression is kept. That delivers Vary: Accept on every variant only while the variants
    # bucket answers no CORS request, i.e. has no CORS configuration.
    (vary,) = vary_headers("MediaResponseHeadersPolicy")
    assert vary["Override"] is False
    assert "CorsConfiguration" not in RESOURCES["VariantsBucket"]["Properties"]
    config = RESOURCES["MediaResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    # A CorsConfig would make CloudFront manage Vary itself and drop the custom one.
    assert "CorsConfig" not in config
    assert set(config) <= {"Name", "Comment", "CustomHeadersConfig"}


def test_the_function_is_the_tested_source():
    function = RESOURCES["FormatNegotiationFunction"]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["AutoPublish"] is True
    code = function["FunctionCode"]
    assert isinstance(code, str), "plain text: the code has nothing for Fn::Sub to substitute"
    # The source as deployed: whole-line comments left out (scripts/render-template.py).
    lines = [line for line in SOURCE.read_text().splitlines() if not line.lstrip().startswith("//")]
    assert code.strip() == "\n".join(lines).strip()
    # CloudFront Functions quota: "Maximum size of a function" 10 KB.
    assert len(code.encode()) < 10 * 1024


def test_the_negotiated_keys_stay_on_the_same_behaviour():
    # The function runs after CloudFront chose the behaviour, so the rewritten key is fetched from
    # the variants origin with the same cache policy; a direct request for it takes the same path.
    for path in VARIANT_PATHS:
        stem = path.rsplit(".", 1)[0]
        for rewritten in (f"{stem}.avif", f"{stem}.webp"):
            assert behaviour(rewritten) is DISTRIBUTION["DefaultCacheBehavior"], rewritten
