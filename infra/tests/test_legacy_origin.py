"""The fallback to a legacy origin (LegacyOriginDomain, LegacyPathPatterns) over the rendered
template, in both states, against what CloudFront documents (Amazon CloudFront Developer Guide,
"Optimize high availability with CloudFront origin failover"):

- an origin group has two origins, primary first, and fails over on status codes from 400, 403,
  404, 416, 500, 502, 503, 504 only;
- "CloudFront fails over to the secondary origin only when the HTTP method of the viewer request
  is GET, HEAD, or OPTIONS": a behaviour that targets a group must not allow other methods;
- the cache behaviours of a distribution: 25 by default (quota), first match wins."""
import re

import pytest

import cfn

TEMPLATE = cfn.rendered()
ON = {"LegacyOriginDomain": "legacy.example.com"}
DOCUMENTED_FAILOVER_CODES = {400, 403, 404, 416, 500, 502, 503, 504}


def config(**parameters):
    return cfn.distribution_config(TEMPLATE, **parameters)


def all_behaviours(c):
    return [*c["CacheBehaviors"], c["DefaultCacheBehavior"]]


def test_off_by_default_nothing_changes():
    c = config()
    assert "OriginGroups" not in c
    assert [o["Id"] for o in c["Origins"]] == ["variants", "releases", "router"]
    assert {b["TargetOriginId"] for b in all_behaviours(c)} == {"variants", "releases"}
    # Paths to keep on an old server mean nothing without one.
    assert config(LegacyPathPatterns="/api/*")["CacheBehaviors"] == c["CacheBehaviors"]


def test_on_every_variants_behaviour_uses_the_group_and_only_methods_that_fail_over():
    off, on = config(), config(**ON)
    (group,) = on["OriginGroups"]["Items"]
    assert on["OriginGroups"]["Quantity"] == 1
    assert [m["OriginId"] for m in group["Members"]["Items"]] == ["variants", "legacy"]
    assert group["Members"]["Quantity"] == 2
    codes = group["FailoverCriteria"]["StatusCodes"]
    assert set(codes["Items"]) == {403, 404, 500, 502, 503, 504} <= DOCUMENTED_FAILOVER_CODES
    assert codes["Quantity"] == len(codes["Items"])
    for before, after in zip(all_behaviours(off), all_behaviours(on)):
        if before["TargetOriginId"] == "variants":
            assert after["TargetOriginId"] == group["Id"], before.get("PathPattern", "*")
            assert set(after["AllowedMethods"]) <= {"GET", "HEAD", "OPTIONS"}
            # The same caching and functions: only the origin changes.
            assert {k: v for k, v in after.items() if k != "TargetOriginId"} == \
                   {k: v for k, v in before.items() if k != "TargetOriginId"}
        else:
            assert after == before


@pytest.mark.parametrize("protocol, port", [("https-only", "443"), ("http-only", "8080")])
def test_the_legacy_origin_is_the_parameters(protocol, port):
    c = config(**ON, LegacyOriginProtocol=protocol, LegacyOriginPort=port, LegacyOriginPath="/static")
    (legacy,) = [o for o in c["Origins"] if o["Id"] == "legacy"]
    params = cfn.parameters(TEMPLATE, **ON, LegacyOriginProtocol=protocol, LegacyOriginPort=port,
                            LegacyOriginPath="/static")
    assert cfn.evaluate(legacy["DomainName"], params) == "legacy.example.com"
    assert cfn.evaluate(legacy["OriginPath"], params) == "/static"
    custom = legacy["CustomOriginConfig"]
    assert cfn.evaluate(custom["OriginProtocolPolicy"], params) == protocol
    assert cfn.evaluate(custom["HTTPSPort" if protocol == "https-only" else "HTTPPort"], params) == port
    assert custom["OriginSSLProtocols"] == ["TLSv1.2"]
    assert "OriginAccessControlId" not in legacy  # OAC signs for S3, Lambda and MediaStore origins only


def test_kept_paths_get_their_own_behaviours_after_the_channels_and_before_the_rest():
    c = config(**ON, LegacyPathPatterns="/board/*,/api/*,*.php")
    patterns = [b["PathPattern"] for b in c["CacheBehaviors"]]
    kept = [b for b in c["CacheBehaviors"] if b["TargetOriginId"] == "legacy"]
    assert [b["PathPattern"] for b in kept] == ["/board/*", "/api/*", "*.php"]
    assert patterns.index("/board/*") == patterns.index("/media-edge-probe/*") + 1
    assert patterns.index("*.php") + 1 == patterns.index("*/manifest.json")
    for b in kept:
        assert set(b["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
        assert b["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
        assert b["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader
        assert "FunctionAssociations" not in b  # no format negotiation or cohorts on the old server's paths
    # First match: a kept path is the old server's even where a later pattern would also match.
    assert cfn.behaviour_for(c, "/board/list.html")["TargetOriginId"] == "legacy"
    assert cfn.behaviour_for(c, "/promo/page.html")["TargetOriginId"] == "variants-then-legacy"
    assert cfn.behaviour_for(c, "/sdk/sdk.js")["TargetOriginId"] == "releases"
    assert len(c["CacheBehaviors"]) <= 25  # CloudFront's default quota per distribution
    assert [b["PathPattern"] for b in config(**ON, LegacyPathPatterns="/one/*")["CacheBehaviors"]
            if b["TargetOriginId"] == "legacy"] == ["/one/*"]


@pytest.mark.parametrize("name, value, ok", [
    ("LegacyOriginDomain", "", True),
    ("LegacyOriginDomain", "legacy.example.com", True),
    ("LegacyOriginDomain", "https://legacy.example.com", False),
    ("LegacyOriginDomain", "legacy.example.com/static", False),
    ("LegacyOriginPath", "/static", True),
    ("LegacyOriginPath", "/static/", False),
    ("LegacyOriginPath", "static", False),
    ("LegacyPathPatterns", "/a/*,/b/*,/c/*", True),
    ("LegacyPathPatterns", "/a/*,/b/*,/c/*,/d/*", False),
    ("LegacyPathPatterns", "/a/*,,/c/*", False),
    *[("LegacyOriginPort", str(port), True) for port in (80, 443, 1024, 8080, 9999, 10000, 65535)],
    *[("LegacyOriginPort", port, False) for port in ("0", "22", "81", "442", "444", "1023", "65536", "08080", "")],
])
def test_parameter_patterns_refuse_what_cloudfront_would(name, value, ok):
    pattern = TEMPLATE["Parameters"][name]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) == ok
