"""The distribution's viewer TLS and its optional AWS WAF web ACL.

TLS: with a custom domain the security policy is TLSv1.2_2021 (TLS 1.2 and later only). Without one
the distribution answers on *.cloudfront.net with CloudFront's default certificate, for which
"CloudFront automatically sets the security policy to TLSv1 regardless of the value that you set"
(CloudFront API reference, ViewerCertificate MinimumProtocolVersion): checkov's CKV_AWS_174 is
skipped for that branch.

WAF: WebAclArn (an existing web ACL of scope CLOUDFRONT, which lives in us-east-1) or CreateWebAcl
(this stack creates one with a rate-based rule per client IP; only in us-east-1), never both (the
template's Rules), or none. For a WAF v2 web ACL the distribution's WebACLId is its ARN."""
import re

import pytest

import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]
CONFIG = RESOURCES["Distribution"]["Properties"]["DistributionConfig"]
ARN = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/promo/0e6f2a3b-4c5d-4e7f-8a9b-0c1d2e3f4a5b"


def resolve(node, params):
    """Fn::If by the template's conditions; other nodes as they are."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        name, if_true, if_false = node["Fn::If"]
        return resolve(if_true if cfn.condition(name, params) else if_false, params)
    return node


def web_acl(**overrides):
    params = cfn.parameters(TEMPLATE, **overrides)
    return resolve(CONFIG["WebACLId"], params)


def test_viewer_tls_is_1_2_or_later_with_a_custom_domain():
    params = cfn.parameters(TEMPLATE, DomainName="media.example.com",
                            AcmCertificateArn="arn:aws:acm:us-east-1:123456789012:certificate/abc")
    certificate = resolve(CONFIG["ViewerCertificate"], params)
    assert certificate["AcmCertificateArn"] == {"Ref": "AcmCertificateArn"}
    assert certificate["SslSupportMethod"] == "sni-only"
    assert re.fullmatch(r"TLSv1\.(2|3)_\d{4}", certificate["MinimumProtocolVersion"])
    assert resolve(CONFIG["Aliases"], params) == [{"Ref": "DomainName"}]


def test_without_a_domain_the_default_certificate_is_used():
    certificate = resolve(CONFIG["ViewerCertificate"], cfn.parameters(TEMPLATE))
    assert certificate == {"CloudFrontDefaultCertificate": True}


def test_origins_are_reached_over_tls_1_2():
    for origin in CONFIG["Origins"]:
        custom = origin.get("CustomOriginConfig")
        if custom:
            assert custom["OriginProtocolPolicy"] == "https-only"
            assert custom["OriginSSLProtocols"] == ["TLSv1.2"]


def test_no_web_acl_by_default():
    assert TEMPLATE["Parameters"]["WebAclArn"]["Default"] == ""
    assert TEMPLATE["Parameters"]["CreateWebAcl"]["Default"] == "false"
    assert web_acl() == {"Ref": "AWS::NoValue"}


def test_an_existing_web_acl_is_associated_by_its_arn():
    assert web_acl(WebAclArn=ARN) == {"Ref": "WebAclArn"}


def test_the_created_web_acl_is_associated():
    assert web_acl(CreateWebAcl="true") == {"Fn::GetAtt": ["WebAcl", "Arn"]}


def test_created_web_acl_limits_requests_per_client_ip():
    acl = RESOURCES["WebAcl"]
    assert acl["Condition"] == "CreatesWebAcl"
    props = acl["Properties"]
    assert props["Scope"] == "CLOUDFRONT"
    assert props["DefaultAction"] == {"Allow": {}}
    (rule,) = props["Rules"]
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP"
    assert rate["Limit"] == {"Ref": "WebAclRequestsPerIp"}
    assert int(rate.get("EvaluationWindowSec", 300)) == 300
    assert rule["Action"] == {"Block": {"CustomResponse": {"ResponseCode": 429}}}
    limit = TEMPLATE["Parameters"]["WebAclRequestsPerIp"]
    # AWS WAF's bounds for a rate-based rule's limit (10 .. 2,000,000,000): the parameter stays within.
    assert 10 <= int(limit["MinValue"]) <= int(limit["Default"]) <= int(limit["MaxValue"]) <= 2_000_000_000


def test_a_created_web_acl_and_an_arn_exclude_each_other():
    rule = TEMPLATE["Rules"]["OneWebAcl"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CreateWebAcl"}, "true"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "WebAclArn"}, ""]}
    # CreatesWebAcl wins in WebACLId, but the rule refuses the combination before anything is created.
    assert web_acl(CreateWebAcl="true", WebAclArn=ARN) == {"Fn::GetAtt": ["WebAcl", "Arn"]}


def test_rules_survive_the_sam_transform():
    assert cfn.transformed()["Rules"] == TEMPLATE["Rules"]


@pytest.mark.parametrize("value, ok", [
    ("", True),
    (ARN, True),
    (ARN.replace("us-east-1", "eu-west-1"), False),   # CLOUDFRONT web ACLs exist only in us-east-1
    (ARN.replace(":global/", ":regional/"), False),   # a regional web ACL cannot go on CloudFront
    ("0e6f2a3b-4c5d-4e7f-8a9b-0c1d2e3f4a5b", False),  # WAF Classic ids are not supported
])
def test_web_acl_arn_pattern(value, ok):
    assert (re.fullmatch(TEMPLATE["Parameters"]["WebAclArn"]["AllowedPattern"], value) is not None) == ok
