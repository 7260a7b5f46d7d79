"""The CloudFormation models infra/emulator/moto_models.py adds to moto, one small stack each, on
the emulator the launcher started (so these also prove the launcher registered them)."""
import io
import json
import zipfile
from urllib.parse import unquote_plus

import pytest

from conftest import unique
from infra.emulator import deploy

REGION = "us-east-1"


@pytest.fixture(scope="module")
def client(endpoint):
    return deploy.clients(endpoint, REGION)


def create(client, template, parameters=None):
    cfn = client("cloudformation")
    name = unique("model")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template),
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
                     Capabilities=deploy.CAPABILITIES)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return name, resources, outputs


def drain(sqs, url):
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for m in messages:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_bucket_notification_to_a_queue_with_prefix_and_suffix_filters(client):
    template = {"Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {
            "NotificationConfiguration": {"QueueConfigurations": [{
                "Event": "s3:ObjectCreated:*", "Queue": {"Fn::GetAtt": ["Queue", "Arn"]},
                "Filter": {"S3Key": {"Rules": [{"Name": "Prefix", "Value": "in/"}, {"Name": "suffix", "Value": ".jpg"}]}},
            }]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "LifecycleConfiguration": {"Rules": [
                {"Id": "claims", "Status": "Enabled", "Prefix": ".claims/", "ExpirationInDays": 1},
                {"Id": "tagged", "Status": "Enabled", "TagFilters": [{"Key": "k", "Value": "v"}], "ExpirationInDays": 30},
                {"Id": "abort", "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
            ]},
        }},
    }}
    _, resources, _ = create(client, template)
    s3, sqs = client("s3"), client("sqs")
    bucket, queue = resources["Bucket"], resources["Queue"]
    drain(sqs, queue)  # S3's s3:TestEvent, sent when a configuration is set
    for key in ("in/a.jpg", "in/a.png", "out/a.jpg"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    # Event keys are URL-encoded (moto also encodes "/").
    keys = [unquote_plus(json.loads(b)["Records"][0]["s3"]["object"]["key"]) for b in drain(sqs, queue)]
    assert keys == ["in/a.jpg"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["claims"]["Filter"] == {"Prefix": ".claims/"} and rules["claims"]["Expiration"]["Days"] == 1
    assert rules["tagged"]["Filter"] == {"Tag": {"Key": "k", "Value": "v"}}
    assert rules["abort"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_topic_subscription_and_policies(client):
    template = {"Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Raw": {"Type": "AWS::SQS::Queue"},
        "Filtered": {"Type": "AWS::SQS::Queue"},
        "RawSub": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Raw", "Arn"]},
            "RawMessageDelivery": True}},
        "FilteredSub": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Filtered", "Arn"]},
            "FilterPolicy": {"kind": ["failed"]}, "RawMessageDelivery": "false"}},
        "TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "Topics": [{"Ref": "Topic"}], "PolicyDocument": {"Statement": [{"Sid": "T", "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sns:Publish", "Resource": {"Ref": "Topic"}}]}}},
        "QueuePolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {
            "Queues": [{"Ref": "Raw"}], "PolicyDocument": {"Statement": [{"Sid": "Q", "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": "*"}]}}},
    }}
    _, resources, _ = create(client, template)
    sns, sqs = client("sns"), client("sqs")
    topic = resources["Topic"]
    sns.publish(TopicArn=topic, Message="plain", MessageAttributes={"kind": {"DataType": "String", "StringValue": "done"}})
    sns.publish(TopicArn=topic, Message="bad", MessageAttributes={"kind": {"DataType": "String", "StringValue": "failed"}})
    assert drain(sqs, resources["Raw"]) == ["plain", "bad"]
    assert [json.loads(b)["Message"] for b in drain(sqs, resources["Filtered"])] == ["bad"]
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert policy["Statement"][0]["Sid"] == "T"
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=resources["Raw"], AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Sid"] == "Q"
    assert resources["RawSub"].startswith(topic + ":")


def test_bucket_policy_is_recorded_not_applied(client):
    # A Deny without its Condition would refuse everything on moto.
    template = {"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": {
            "Statement": [{"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                           "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}},
    }}
    _, resources, _ = create(client, template)
    s3 = client("s3")
    s3.put_object(Bucket=resources["Bucket"], Key="k", Body=b"x")
    assert s3.get_object(Bucket=resources["Bucket"], Key="k")["Body"].read() == b"x"
    assert resources["Policy"] == resources["Bucket"]


def _zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("bootstrap", "x")
    return buffer.getvalue()


def test_function_layers_storage_architecture_version_alias_url_and_mapping(client):
    s3 = client("s3")
    bucket = unique("code")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="f.zip", Body=_zip())
    code = {"S3Bucket": bucket, "S3Key": "f.zip"}
    template = {
        "Parameters": {"Batch": {"Type": "Number", "Default": 3}},
        "Resources": {
            "Layer": {"Type": "AWS::Lambda::LayerVersion", "Properties": {
                "Content": code, "CompatibleArchitectures": ["arm64"], "CompatibleRuntimes": ["provided.al2023"]}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "Code": code, "Handler": "bootstrap", "Runtime": "provided.al2023", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Layers": [{"Ref": "Layer"}], "Architectures": ["arm64"], "EphemeralStorage": {"Size": 4096},
                "MemorySize": 1024, "Timeout": 900, "Environment": {"Variables": {"A": "b"}}}},
            "Version": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
            "Alias": {"Type": "AWS::Lambda::Alias", "Properties": {
                "Name": "live", "FunctionName": {"Ref": "Fn"}, "FunctionVersion": {"Fn::GetAtt": ["Version", "Version"]}}},
            "Url": {"Type": "AWS::Lambda::Url", "Properties": {"TargetFunctionArn": {"Ref": "Alias"}, "AuthType": "AWS_IAM"}},
            "Invoke": {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": {
                "FunctionName": {"Ref": "Fn"}, "Qualifier": "live", "MaximumRetryAttempts": 0}},
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]}, "FunctionName": {"Ref": "Alias"},
                "BatchSize": {"Ref": "Batch"}, "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": 2}}},
        },
        "Outputs": {"Version": {"Value": {"Fn::GetAtt": ["Version", "Version"]}},
                    "VersionArn": {"Value": {"Ref": "Version"}},
                    "Url": {"Value": {"Fn::GetAtt": ["Url", "FunctionUrl"]}}},
    }
    _, resources, outputs = create(client, template)
    lam, sqs = client("lambda"), client("sqs")
    config = lam.get_function_configuration(FunctionName=resources["Fn"])
    assert [layer["Arn"] for layer in config["Layers"]] == [resources["Layer"]]
    assert config["Architectures"] == ["arm64"]
    assert config["EphemeralStorage"] == {"Size": 4096}
    assert (config["MemorySize"], config["Timeout"]) == (1024, 900)
    layer_name, layer_version = resources["Layer"].split(":")[-2:]
    assert lam.get_layer_version(LayerName=layer_name, VersionNumber=int(layer_version))["CompatibleArchitectures"] == ["arm64"]
    assert outputs["Version"] == "1"
    assert outputs["VersionArn"].endswith(f":function:{resources['Fn']}:1")
    assert lam.get_alias(FunctionName=resources["Fn"], Name="live")["FunctionVersion"] == "1"
    assert outputs["Url"].startswith("https://")
    assert lam.get_function_event_invoke_config(FunctionName=resources["Fn"])["MaximumRetryAttempts"] == 0
    mapping = lam.get_event_source_mapping(UUID=resources["Mapping"])
    assert mapping["BatchSize"] == 3
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert mapping["FunctionArn"] == resources["Alias"]
    # Created disabled: a message stays in the queue for the harness (moto would run Docker).
    assert mapping["State"] == "Disabled"
    sqs.send_message(QueueUrl=resources["Queue"], MessageBody="job")
    assert drain(sqs, resources["Queue"]) == ["job"]


def test_alarm_with_metric_math(client):
    template = {"Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmDescription": "d", "EvaluationPeriods": 1, "Threshold": 5,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "AlarmActions": [{"Ref": "Topic"}],
            "Metrics": [
                {"Id": "a", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "M",
                 "Dimensions": [{"Name": "Service", "Value": "s"}]}, "Period": 300, "Stat": "Sum"}},
                {"Id": "total", "Expression": "FILL(a, 0)", "ReturnData": True}]}},
        "Simple": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": {"Fn::Sub": "${AWS::StackName}-simple"}, "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible", "Statistic": "Maximum", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
            "Dimensions": [{"Name": "QueueName", "Value": "q"}]}},
    }, "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Alarm", "Arn"]}}}}
    name, resources, outputs = create(client, template)
    cw = client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
    alarm = alarms[resources["Alarm"]]
    assert outputs["Arn"] == alarm["AlarmArn"]
    assert [m["Id"] for m in alarm["Metrics"]] == ["a", "total"]
    assert alarms[f"{name}-simple"]["Dimensions"] == [{"Name": "QueueName", "Value": "q"}]


RULES_TEMPLATE = {
    "Parameters": {"Mode": {"Type": "String", "Default": "a", "AllowedValues": ["a", "b"]},
                   "Size": {"Type": "Number", "Default": 2, "MinValue": 1, "MaxValue": 10},
                   "Prefix": {"Type": "String", "Default": "", "AllowedPattern": "^[a-z]*$", "MaxLength": 4}},
    "Rules": {
        "RegionKnown": {"Assertions": [{"Assert": {"Fn::Contains": [["us-east-1", "eu-west-1"], {"Ref": "AWS::Region"}]},
                                        "AssertDescription": "region refused"}]},
        "BOnlyInUsEast1": {"RuleCondition": {"Fn::Equals": [{"Ref": "Mode"}, "b"]},
                           "Assertions": [{"Assert": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
                                           "AssertDescription": "b needs us-east-1"}]},
    },
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
}


@pytest.mark.parametrize("region, parameters, refusal", [
    ("us-east-1", {"Mode": "b"}, None),
    ("eu-west-1", {"Mode": "a"}, None),
    ("eu-west-1", {"Mode": "b"}, "b needs us-east-1"),
    ("ap-east-1", {}, "region refused"),
    ("us-east-1", {"Mode": "c"}, "AllowedValues"),
    ("us-east-1", {"Size": "11"}, "not greater than 10"),
    ("us-east-1", {"Prefix": "UP"}, "pattern"),
    ("us-east-1", {"Prefix": "abcde"}, "at most 4"),
])
def test_rules_and_parameter_constraints_are_checked_at_create_stack(endpoint, region, parameters, refusal):
    cfn = deploy.clients(endpoint, region)("cloudformation")
    name = unique("rules")
    call = lambda: cfn.create_stack(  # noqa: E731
        StackName=name, TemplateBody=json.dumps(RULES_TEMPLATE),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    if refusal is None:
        call()
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        cfn.delete_stack(StackName=name)
    else:
        with pytest.raises(cfn.exceptions.ClientError, match=refusal):
            call()


def test_route53_batches_are_all_or_nothing_and_deletes_must_match_exactly(client):
    """What makes `media-edge migrate`'s delete-and-create a conditional change."""
    import botocore.exceptions
    r53 = client("route53")
    zone = r53.create_hosted_zone(Name=unique("zone") + ".example.com", CallerReference=unique("ref"))
    zone_id, name = zone["HostedZone"]["Id"], "www." + zone["HostedZone"]["Name"]

    def record(kind, value, set_id=None, weight=None):
        rr = {"Name": name, "Type": kind, "TTL": 300, "ResourceRecords": [{"Value": value}]}
        if set_id:
            rr.update(SetIdentifier=set_id, Weight=weight)
        return rr

    def change(*changes):
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
            "Changes": [{"Action": a, "ResourceRecordSet": rr} for a, rr in changes]})

    def refused(*changes):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            change(*changes)
        assert e.value.response["Error"]["Code"] == "InvalidChangeBatch"
        return e.value.response["Error"]["Message"]

    def weights():
        sets = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return sorted((s["Type"], s.get("SetIdentifier"), s.get("Weight")) for s in sets if s["Name"] == name)

    change(("CREATE", record("A", "192.0.2.1")), ("CREATE", record("AAAA", "2001:db8::1")))
    # A weighted set beside the plain one of the same type: refused, and nothing of the batch applied.
    assert "conflicting" in refused(("CREATE", record("A", "192.0.2.2", "new", 0)),
                                    ("CREATE", record("AAAA", "2001:db8::2", "new", 0)))
    assert weights() == [("A", None, None), ("AAAA", None, None)]
    # Replaced in one batch, as `migrate prepare` does.
    change(("DELETE", record("A", "192.0.2.1")), ("CREATE", record("A", "192.0.2.1", "legacy", 100)),
           ("CREATE", record("A", "192.0.2.2", "cf", 0)),
           ("DELETE", record("AAAA", "2001:db8::1")), ("CREATE", record("AAAA", "2001:db8::1", "legacy", 100)),
           ("CREATE", record("AAAA", "2001:db8::2", "cf", 0)))
    # A delete with an old weight (someone moved it since it was read) is refused.
    assert "do not match" in refused(("DELETE", record("A", "192.0.2.2", "cf", 5)),
                                     ("CREATE", record("A", "192.0.2.2", "cf", 10)))
    assert "already exists" in refused(("CREATE", record("A", "192.0.2.9", "cf", 0)))
    # Deleting the A's legacy set leaves the AAAA's with the same identifier.
    change(("DELETE", record("A", "192.0.2.1", "legacy", 100)))
    assert weights() == [("A", "cf", 0), ("AAAA", "cf", 0), ("AAAA", "legacy", 100)]



def test_sqs_queues_can_be_walked_while_a_queue_is_added():
    """moto walks every queue (a redrive policy's target) while other request threads add queues:
    unpatched, two stacks created at once failed CreateStack with "dictionary changed size during
    iteration". A thread switch mid-walk is rare, so this makes the switch happen: the walk sees
    a copy, and the queue added during it is kept."""
    from moto.sqs.models import SQSBackend

    from infra.emulator import moto_models

    moto_models.register()
    backend = SQSBackend("us-east-1", "123456789012")
    for name in ("a", "b", "c"):
        backend.create_queue(name)
    walked = []
    for queue in backend.queues.values():
        walked.append(queue.name)
        backend.create_queue(f"added-during-{queue.name}")
    assert walked == ["a", "b", "c"]
    assert len(backend.queues) == 6
