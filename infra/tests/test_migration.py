"""Moving viewers by DNS (HostedZoneId, RecordName, LegacyHealthCheckPath; `media-edge migrate`)
over the rendered template, against what AWS documents:

- ChangeResourceRecordSets can be limited to record names with the condition key
  `route53:ChangeResourceRecordSetsNormalizedRecordNames` (lower case, no final dot; Route 53
  Developer Guide, "Using IAM policy conditions for fine-grained access control");
  ListResourceRecordSets has no such key, so it is granted on the zone;
- a health check's Port, Type (HTTP or HTTPS) and FullyQualifiedDomainName are the old server's;
- both off by default: no Route 53 permission, no health check."""
import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
ON = {"HostedZoneId": "Z0123456789ABCDEFGHIJ", "RecordName": "www.example.com"}


def controller_statements(**parameters):
    role = cfn.function_role(TRANSFORMED, "ReleaseControllerFunction")
    statements, _ = cfn.role_permissions(TRANSFORMED, role)
    return cfn.resolve_conditions(statements, cfn.parameters(TRANSFORMED, **parameters))


def refusals(**parameters):
    return cfn.rule_refusals(TEMPLATE, cfn.parameters(TEMPLATE, **parameters))


def test_off_by_default_the_controller_has_no_route53_permission_and_there_is_no_health_check():
    statements = controller_statements()
    assert not [s for s in statements if "route53" in str(s.get("Action"))]
    assert not cfn.allowed(statements, "s3:PutObject") or all(
        "migrations" not in str(r) for r, _ in cfn.allowed(statements, "s3:PutObject"))
    assert not cfn.condition("ChecksLegacyHealth", cfn.parameters(TEMPLATE))
    assert refusals() == []


def test_on_the_controller_may_change_only_the_sites_name_and_read_its_zone():
    statements = controller_statements(**ON)
    zone = "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"
    (change,) = cfn.allowed(statements, "route53:ChangeResourceRecordSets")
    resource, condition = change
    assert cfn.evaluate(resource, cfn.parameters(TRANSFORMED, **ON)) == zone
    names = condition["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
    assert cfn.evaluate(names, cfn.parameters(TRANSFORMED, **ON)) == ["www.example.com"]
    (listing,) = cfn.allowed(statements, "route53:ListResourceRecordSets")
    assert cfn.evaluate(listing[0], cfn.parameters(TRANSFORMED, **ON)) == zone
    # Nothing else of Route 53 (no other zone, no health check changes).
    route53 = [a for s in statements for a in cfn.as_list(s.get("Action", [])) if a.startswith("route53:")]
    assert sorted(route53) == ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"]
    resources = [str(r) for r, _ in cfn.allowed(statements, "s3:PutObject")]
    assert any("${ReleasesBucket.Arn}/migrations/*" in r for r in resources), resources


def test_the_name_pattern_is_the_normalized_form_the_condition_key_compares():
    pattern = TEMPLATE["Parameters"]["RecordName"]["AllowedPattern"]
    import re
    assert re.fullmatch(pattern, "www.example.com")
    for bad in ["WWW.example.com", "www.example.com.", "https://www.example.com", "-www.example.com"]:
        assert not re.fullmatch(pattern, bad), bad


def test_the_health_check_is_the_old_servers_when_asked_for():
    params = cfn.parameters(TEMPLATE, **ON, LegacyOriginDomain="origin.example.com", LegacyOriginPort="8443",
                            LegacyHealthCheckPath="/health")
    assert cfn.condition("ChecksLegacyHealth", params)
    check = TEMPLATE["Resources"]["LegacyHealthCheck"]
    assert check["Condition"] == "ChecksLegacyHealth"
    config = cfn.resolve_conditions(check["Properties"]["HealthCheckConfig"], params)
    assert {k: cfn.evaluate(v, params) for k, v in config.items()} == {
        "Type": "HTTPS", "FullyQualifiedDomainName": "origin.example.com", "Port": "8443",
        "ResourcePath": "/health", "RequestInterval": "30", "FailureThreshold": "3"}
    http = cfn.parameters(TEMPLATE, **ON, LegacyOriginDomain="origin.example.com", LegacyOriginProtocol="http-only",
                          LegacyHealthCheckPath="/")
    assert cfn.evaluate(check["Properties"]["HealthCheckConfig"]["Type"], http) == "HTTP"
    # Without the old server's name, or without a path: no check.
    assert not cfn.condition("ChecksLegacyHealth", cfn.parameters(TEMPLATE, **ON, LegacyHealthCheckPath="/health"))
    assert not cfn.condition("ChecksLegacyHealth", cfn.parameters(TEMPLATE, **ON, LegacyOriginDomain="o.example.com"))
    assert TEMPLATE["Outputs"]["LegacyHealthCheckId"]["Condition"] == "ChecksLegacyHealth"


def test_rules_refuse_half_a_setting_and_an_origin_that_is_the_site_itself():
    assert refusals(**ON) == []
    assert refusals(HostedZoneId="Z0123456789ABCDEFGHIJ") and refusals(RecordName="www.example.com")
    (why,) = refusals(**ON, LegacyOriginDomain="www.example.com")
    assert "another name" in why
    assert refusals(**ON, LegacyOriginDomain="origin.example.com") == []
