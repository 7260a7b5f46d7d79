"""ReleaseRouting=edge as the rendered template deploys it: the KeyValueStore, the two CloudFront
Functions that read it (crates/edge-router/cloudfront/release-edge.js, tested under Node), the
releases bucket as an origin behind OAC, and CloudFront Functions' documented quotas (Amazon
CloudFront Developer Guide, "Quotas on CloudFront Functions": a function's code at most 10 KB, one
key value store per function; runtime cloudfront-js-2.0 for key value stores)."""
import re
import shutil
import subprocess

import pytest

import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]
EDGE_FUNCTIONS = ["ReleaseEdgeRequestFunction", "ReleaseEdgeResponseFunction"]
MAX_FUNCTION_BYTES = 10 * 1024


def deployed_code(name, cohorts):
    """A function's code as CloudFormation hands it to CloudFront, for a CohortCount value."""
    code = RESOURCES[name]["Properties"]["FunctionCode"]
    params = cfn.parameters(TEMPLATE, CohortCount=str(cohorts))
    return cfn.evaluate(code, params) if isinstance(code, dict) else code


@pytest.mark.parametrize("name", EDGE_FUNCTIONS)
def test_edge_functions_read_the_release_store(name):
    props = RESOURCES[name]["Properties"]
    assert props["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    (association,) = props["FunctionConfig"]["KeyValueStoreAssociations"]  # one store per function
    assert association["KeyValueStoreARN"] == {"Fn::GetAtt": ["ReleaseStore", "Arn"]}
    assert RESOURCES["ReleaseStore"]["Type"] == "AWS::CloudFront::KeyValueStore"
    code = deployed_code(name, 100)
    assert code.splitlines()[0] == "import cf from 'cloudfront';", "imports lead the function"
    assert "var COHORTS = 100;" in code


@pytest.mark.parametrize("name", [n for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudFront::Function"])
def test_every_function_fits_the_size_quota_at_the_largest_cohort_count(name):
    largest = TEMPLATE["Parameters"]["CohortCount"]["MaxValue"]
    code = deployed_code(name, largest)
    assert len(code.encode()) <= MAX_FUNCTION_BYTES, f"{name}: {len(code.encode())} bytes"


def test_cohorts_fit_the_three_digits_a_cookie_may_carry():
    # cohort.js and the router accept 1-3 digits: cohorts 0..999.
    assert TEMPLATE["Parameters"]["CohortCount"]["MaxValue"] <= 1000
    assert TEMPLATE["Parameters"]["CohortCount"]["Default"] == 100


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("name", EDGE_FUNCTIONS + ["CohortViewerRequestFunction", "CohortViewerResponseFunction"])
def test_deployed_code_is_valid_javascript(name, tmp_path):
    source = tmp_path / f"{name}.mjs"  # a module: the edge functions start with an import
    source.write_text(deployed_code(name, 100))
    result = subprocess.run(["node", "--check", str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_releases_origin_is_the_bucket_through_oac():
    config = cfn.distribution_config(TEMPLATE, ReleaseRouting="edge")
    origin = next(o for o in config["Origins"] if o["Id"] == "releases")
    assert cfn.ref_name(origin["DomainName"]) == "ReleasesBucket"
    oac = RESOURCES[cfn.ref_name(origin["OriginAccessControlId"])]["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def cloudfront_statements(mode):
    policy = RESOURCES["ReleasesBucketPolicy"]["Properties"]["PolicyDocument"]
    policy = cfn.resolve_conditions(policy, cfn.parameters(TEMPLATE, ReleaseRouting=mode))
    return [s for s in cfn.statements(policy) if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]


def test_cloudfront_reads_only_release_files_and_only_in_edge_mode():
    statements = {s["Action"]: s for s in cloudfront_statements("edge")}
    assert set(statements) == {"s3:GetObject", "s3:ListBucket"}
    # Never the channel configs (channels/) or publish records (versions/) beside the files.
    assert statements["s3:GetObject"]["Resource"] == {"Fn::Sub": "${ReleasesBucket.Arn}/releases/*"}
    for statement in statements.values():
        source = statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
        assert source.endswith(":distribution/${Distribution}")
    assert cloudfront_statements("origin") == []


def test_version_paths_are_cached_by_path_alone_for_as_long_as_the_object_says():
    config = RESOURCES["ReleaseVersionCachePolicy"]["Properties"]["CachePolicyConfig"]
    key = config["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    assert config["MaxTTL"] >= 31536000 and config["MinTTL"] == 0


def test_the_store_arn_is_an_output_for_the_release_command():
    assert TEMPLATE["Outputs"]["ReleaseStoreArn"]["Value"] == {"Fn::GetAtt": ["ReleaseStore", "Arn"]}


def test_the_browser_lifetime_is_short_because_release_urls_name_no_version():
    code = deployed_code("ReleaseEdgeResponseFunction", 100)
    assert re.search(r"var BROWSER_MAX_AGE = (\d+);", code).group(1) == "60"


def test_the_release_command_defaults_to_the_templates_cohort_count():
    source = (cfn.ROOT / "crates/release-control/src/lib.rs").read_text()
    default = int(re.search(r"pub const DEFAULT_COHORTS: u16 = (\d+);", source).group(1))
    assert default == TEMPLATE["Parameters"]["CohortCount"]["Default"]
