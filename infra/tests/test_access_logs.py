"""CloudFront access logs as the rendered template deploys them (AccessLogs): standard logging v2
(JSON, hourly partitions) through CloudWatch Logs' delivery resources, or legacy standard logging,
and one Glue table that reads either. AWS's documented behaviour asserted here (Amazon CloudFront
Developer Guide, "Standard logging (v2)"; Athena User Guide, "Partition projection"): v2 is
configured in us-east-1; a destination ARN with a prefix replaces the default AWSLogs/ path and the
suffix path follows it; the delivery service writes as delivery.logs.amazonaws.com with
bucket-owner-full-control; a date projection's format must render the path segment it names."""
import re

import pytest

import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]
V2_RESOURCES = ["AccessLogsSource", "AccessLogsDestination", "AccessLogsDelivery"]
# What `media-edge logs` reads (crates/cdn-logs/src/json.rs) and the named queries use.
REPORT_FIELDS = {"date", "time", "sc-bytes", "cs-uri-stem", "sc-status", "x-edge-result-type", "sc-content-type",
                 "cs(User-Agent)"}
PERSONAL_FIELDS = {"c-ip", "cs(Cookie)", "x-forwarded-for", "c-port"}


def params(region, access_logs="auto", **overrides):
    return cfn.parameters(TEMPLATE, AccessLogs=access_logs, **{"AWS::Region": region}, **overrides)


def deployed(region, access_logs="auto", **overrides):
    """{logical id: resource with Fn::If resolved} of what the stack creates."""
    values = params(region, access_logs, **overrides)
    return {
        name: cfn.resolve_conditions(resource, values)
        for name, resource in RESOURCES.items()
        if "Condition" not in resource or cfn.condition(resource["Condition"], values)
    }


def table(resources):
    return resources["CloudFrontLogsTable"]["Properties"]["TableInput"]


@pytest.mark.parametrize("region,access_logs,v2", [
    ("us-east-1", "auto", True),
    ("ap-northeast-2", "auto", False),
    ("us-east-1", "legacy", False),
    ("us-east-1", "v2", True),
])
def test_one_kind_of_access_log_is_delivered(region, access_logs, v2):
    resources = deployed(region, access_logs)
    assert all((name in resources) == v2 for name in V2_RESOURCES)
    logging = resources["Distribution"]["Properties"]["DistributionConfig"].get("Logging")
    assert (logging is None) == v2, "legacy logging only when v2 is not delivered"
    assert ("PartitionKeys" in table(resources)) == v2


def test_v2_outside_us_east_1_is_refused_before_anything_is_created():
    (rule,) = [r for r in TEMPLATE["Rules"].values() if r.get("RuleCondition") == {"Fn::Equals": [{"Ref": "AccessLogs"}, "v2"]}]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert "us-east-1" in assertion["AssertDescription"]


def test_the_delivery_writes_where_the_table_reads_and_the_bucket_policy_allows():
    resources = deployed("us-east-1")
    values = params("us-east-1")
    destination = resources["AccessLogsDestination"]["Properties"]
    delivery = resources["AccessLogsDelivery"]["Properties"]
    assert resources["AccessLogsSource"]["Properties"]["LogType"] == "ACCESS_LOGS"
    assert resources["AccessLogsSource"]["Properties"]["ResourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"}
    assert delivery["DeliverySourceName"] == {"Ref": "AccessLogsSource"}
    assert delivery["DeliveryDestinationArn"] == {"Fn::GetAtt": ["AccessLogsDestination", "Arn"]}
    assert destination["OutputFormat"] == "json"
    assert destination["DestinationResourceArn"] == {"Fn::Sub": "${LogsBucket.Arn}/cloudfront-v2"}
    assert delivery["S3EnableHiveCompatiblePath"] is False

    # Where objects land: <prefix>/<suffix>/<file>; the suffix's variables as the projection names them.
    suffix = delivery["S3SuffixPath"]
    assert suffix == "{DistributionId}/{yyyy}/{MM}/{dd}/{HH}"
    parameters = table(resources)["Parameters"]
    template = cfn.evaluate(parameters["storage.location.template"], {**values, "LogsBucket": "logs"})
    assert template == "s3://logs/cloudfront-v2/${distributionid}/${hour_utc}/"
    assert parameters["projection.hour_utc.format"] == "yyyy/MM/dd/HH"  # the suffix's {yyyy}/{MM}/{dd}/{HH}
    assert parameters["projection.hour_utc.interval.unit"] == "HOURS"
    assert parameters["projection.distributionid.values"] == {"Ref": "Distribution"}
    assert [k["Name"] for k in table(resources)["PartitionKeys"]] == ["distributionid", "hour_utc"]
    assert table(resources)["StorageDescriptor"]["Location"] == {"Fn::Sub": "s3://${LogsBucket}/cloudfront-v2/"}

    policy = resources["LogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (write,) = [s for s in policy if s.get("Principal") == {"Service": "delivery.logs.amazonaws.com"}]
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == {"Fn::Sub": "${LogsBucket.Arn}/cloudfront-v2/*"}
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    source_arn = cfn.evaluate(write["Condition"]["ArnLike"]["aws:SourceArn"], values)
    assert source_arn == "arn:aws:logs:us-east-1:123456789012:delivery-source:*"
    assert RESOURCES["AccessLogsDestination"]["DependsOn"] == "LogsBucketPolicy", "the policy before the first delivery"

    legacy = deployed("ap-northeast-2")["LogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert not [s for s in legacy if s.get("Principal") == {"Service": "delivery.logs.amazonaws.com"}]


@pytest.mark.parametrize("release_log_data", ["false", "true"])
def test_the_delivery_selects_every_field_the_table_and_the_report_read_and_no_personal_data(release_log_data):
    resources = deployed("us-east-1", ReleaseLogData=release_log_data)
    fields = resources["AccessLogsDelivery"]["Properties"]["RecordFields"]
    assert len(fields) == len(set(fields)) <= 128
    serde = table(resources)["StorageDescriptor"]["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    mapping = {k.removeprefix("mapping."): v for k, v in serde["Parameters"].items() if k.startswith("mapping.")}
    columns = [c["Name"] for c in table(resources)["StorageDescriptor"]["Columns"]]
    assert sorted(mapping) == sorted(columns), "every column is mapped to a log field"
    # The SerDe matches keys without case (its default), so mapped names are lower case. The
    # release column stays in the table either way (NULL when the field is not selected).
    optional = set() if release_log_data == "true" else {"viewer-request-log-data"}
    assert sorted(mapping.values()) == sorted(f.lower() for f in set(fields) | optional), \
        "every mapped field is delivered"
    assert REPORT_FIELDS <= set(fields)
    assert ("viewer-request-log-data" in fields) == (release_log_data == "true")
    assert not PERSONAL_FIELDS & set(fields)


def test_named_queries_read_only_the_hours_they_ask_for_under_v2():
    queries = {n: r for n, r in RESOURCES.items() if r["Type"] == "AWS::Athena::NamedQuery"}
    assert len(queries) >= 6
    for name, query in queries.items():
        text = query["Properties"]["QueryString"]
        for region, partitioned in [("us-east-1", True), ("ap-northeast-2", False)]:
            if "Condition" in query and not cfn.condition(query["Condition"], params(region)):
                assert query["Condition"] == "LogsV2" and "viewer_request_log_data" in text, name
                continue  # a query of the v2 table only, absent from a legacy stack
            sql = cfn.resolve_conditions(text, params(region))
            days = re.findall(r"current_date - interval '(\d+)' day", sql)
            assert days, name
            if partitioned:
                # The partitions it reads, and the day itself (log_date is text in the v2 table).
                assert "hour_utc >= " in sql and "log_date >= substr(" in sql, name
            else:
                assert "hour_utc" not in sql and "log_date >= current_date" in sql, name


# Opt-in Regions: disabled by default, every Region launched after 20 March 2019 (AWS Account
# Management Reference, "Enable or disable AWS Regions in your account"). CloudFront delivers no
# standard logs (legacy) to buckets in them: the Developer Guide names af-south-1, ap-east-1,
# eu-south-1 and me-south-1 ("Choose an Amazon S3 bucket for your standard logs", and the Systems
# Manager runbook AWSConfigRemediation-EnableCloudFrontAccessLogs: "Buckets in the af-south-1,
# ap-east-1, eu-south-1, and me-south-1 Region are not supported"), and lists "send logs to opt-in
# AWS Regions" as a feature of standard logging v2 ("Configure standard logging (v2)").
DOCUMENTED_NO_LEGACY_LOGS = {"af-south-1", "ap-east-1", "eu-south-1", "me-south-1"}
OPT_IN_REGIONS = DOCUMENTED_NO_LEGACY_LOGS | {
    "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6",
    "ap-southeast-7", "ca-west-1", "eu-central-2", "eu-south-2", "il-central-1", "me-central-1", "mx-central-1",
}
DEFAULT_REGIONS = {
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2",
}


def refusals(region, access_logs="auto"):
    """The AssertDescriptions of the template's Rules that refuse these parameter values."""
    return cfn.rule_refusals(TEMPLATE, params(region, access_logs))


@pytest.mark.parametrize("region", sorted(OPT_IN_REGIONS))
@pytest.mark.parametrize("access_logs", ["auto", "legacy", "v2"])
def test_opt_in_regions_are_refused_with_a_reason(region, access_logs):
    # Legacy logs to this stack's bucket would fail the distribution's creation; v2 cannot be set
    # up outside us-east-1. The template says so before anything is created.
    found = refusals(region, access_logs)
    assert any("opt-in Region" in message for message in found), found


@pytest.mark.parametrize("region", sorted(DEFAULT_REGIONS))
def test_regions_enabled_by_default_are_accepted(region):
    assert refusals(region) == []
    assert refusals(region, "legacy") == []


def test_default_region_list_is_the_pre_2019_regions():
    assert not DEFAULT_REGIONS & OPT_IN_REGIONS
    (rule,) = [r for r in TEMPLATE["Rules"].values()
               if any("opt-in Region" in a["AssertDescription"] for a in r["Assertions"])]
    (assertion,) = rule["Assertions"]
    assert set(assertion["Assert"]["Fn::Contains"][0]) == DEFAULT_REGIONS


V2_FIELDS = __import__("json").loads((cfn.ROOT / "infra/cloudfront-v2-log-fields.json").read_text())


def test_v2_record_fields_are_fields_cloudfront_publishes():
    # One unknown (or misspelled: "cs(host)", "cs-user-agent") name in RecordFields fails the
    # delivery, and with it the whole stack in us-east-1. The allowed names, with their source,
    # are in infra/cloudfront-v2-log-fields.json.
    published = set(V2_FIELDS["standard_log_fields"]["fields"])
    real_time = V2_FIELDS["real_time_fields_selected"]["fields"]
    assert len(published) == 41 and not published & set(real_time)
    def record_fields(**overrides):
        params = cfn.parameters(TEMPLATE, **overrides)
        return cfn.resolve_conditions(RESOURCES["AccessLogsDelivery"]["Properties"]["RecordFields"], params)

    # By default only published names: a first deploy cannot roll back on an unverified field.
    default = record_fields()
    assert len(default) == len(set(default)), "a field is selected twice"
    assert not [f for f in default if f not in published], f"not a published v2 log field: {default}"
    # Opting in adds exactly the real-time fields the list admits, each with why.
    opted_in = record_fields(ReleaseLogData="true")
    assert len(opted_in) == len(set(opted_in))
    unknown = [f for f in opted_in if f not in published and f not in real_time]
    assert not unknown, f"not a CloudFront v2 log field: {unknown}"
    assert set(real_time) == set(opted_in) - set(default)
    assert all(len(reason.split()) >= 8 for reason in real_time.values())


def test_the_field_list_catches_a_misspelling():
    published = set(V2_FIELDS["standard_log_fields"]["fields"])
    for wrong in ("cs(host)", "cs-user-agent", "x-edge-result", "c_country", "timestamp-ms"):
        assert wrong not in published
