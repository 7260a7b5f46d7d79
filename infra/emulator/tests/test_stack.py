"""infra/template.yaml deployed as a stack on the emulator (python -m infra.emulator deploy), and
its wiring exercised: an upload under InputPrefix reaches the jobs queue through the template's
own bucket notification, uploads topic and subscription; a status publish reaches the notifier
queue; a job that keeps failing reaches the dead-letter queue the outputs and the alarm name.
The functions, queues and the event source mapping carry what the template gives them, a second
parameter set in another Region flows through, stacks coexist and delete. Last, copies of the
template with the wiring broken are deployed by the same tool and the wiring checks catch them.

Stacks: the default one (us-east-1), one with other parameters (eu-west-1), one to delete, and one
per mutation; each is 1-3 s on this machine (the deploy prints its seconds)."""
import copy
import json
import pathlib
import sys
from urllib.parse import unquote_plus

import pytest

from infra.emulator import deploy, placeholders, translate

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests"))
import cfn  # noqa: E402  (infra/tests/cfn.py: the template tests' evaluator of Ref/Sub/If/...)

OTHER = {"InputPrefix": "incoming/", "ProcessorBatchSize": "3", "ProcessorMemorySize": "2048",
         "ProcessorMaxConcurrency": "7"}


@pytest.fixture(scope="module")
def default(stacks):
    return stacks.deploy("media-edge-default")


@pytest.fixture(scope="module")
def other(stacks):
    return stacks.deploy("media-edge-other", region="eu-west-1", parameters=OTHER)


# ---------------------------------------------------------------- helpers

def client(stacks, d, service):
    return stacks.client(d, service)


def drain(sqs, url):
    """Every message visible on the queue, received and deleted (message bodies, parsed)."""
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def queue_url(d, logical_id):
    return d["queues"][logical_id]["QueueUrl"]


def queue_arn(d, logical_id):
    return d["queues"][logical_id]["Attributes"]["QueueArn"]


def deployed_template(d):
    """The template as deploy gave it to the emulator (translated, placeholders in), and the
    values its Refs take on this stack."""
    emulated, _, _ = deploy.prepare(d["stack"]["template"], d["stack"]["region"],
                                    d["stack"]["name"])
    values = dict(d["stack"]["parameters"])
    arn = d["stack"]["id"].split(":")
    values.update({
        "AWS::StackName": d["stack"]["name"], "AWS::StackId": d["stack"]["id"], "AWS::Region": arn[3],
        "AWS::AccountId": arn[4], "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
    })
    values.update({name: r["physical_id"] for name, r in d["resources"].items() if not r["placeholder"]})
    return emulated, cfn.Values(values, emulated.get("Conditions"))


def the_processor(d):
    return d["functions"]["ImageProcessorFunction"]


# ---------------------------------------------------------------- wiring checks (also run on broken copies)

def check_uploads_reach_the_jobs_queue(stacks, d):
    """An object put under InputPrefix in the originals bucket arrives on the jobs queue as S3 →
    SNS → SQS delivers it (an SNS envelope from the uploads topic around the S3 event); one put
    outside the prefix does not."""
    s3, sqs = client(stacks, d, "s3"), client(stacks, d, "sqs")
    bucket, prefix = d["outputs"]["OriginalsBucketName"], d["stack"]["parameters"]["InputPrefix"]
    jobs = d["outputs"]["JobsQueueUrl"]
    drain(sqs, jobs)  # S3's s3:TestEvent from when the notification was configured
    inside, outside = f"{prefix}photo.jpg", "elsewhere/photo.jpg"
    for key in (inside, outside):
        s3.put_object(Bucket=bucket, Key=key, Body=b"\xff\xd8\xff")
    messages = drain(sqs, jobs)
    events = []
    for envelope in messages:
        assert envelope["Type"] == "Notification", envelope
        assert envelope["TopicArn"] == d["outputs"]["UploadsTopicArn"]
        events.append(json.loads(envelope["Message"]))
    keys = [unquote_plus(r["s3"]["object"]["key"]) for e in events for r in e.get("Records", [])]
    assert keys == [inside], f"jobs queue got {keys} for uploads of {inside!r} and {outside!r}"
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["bucket"]["name"] == bucket
    assert record["awsRegion"] == d["stack"]["region"]


def check_status_reaches_the_notifier_queue(stacks, d):
    sns, sqs = client(stacks, d, "sns"), client(stacks, d, "sqs")
    queue = d["outputs"]["NotifierQueueUrl"]
    drain(sqs, queue)
    status = json.dumps({"key": "uploads/photo.jpg", "outcome": "processed"})
    sns.publish(TopicArn=d["outputs"]["StatusTopicArn"], Message=status)
    envelopes = drain(sqs, queue)
    got = [(e.get("TopicArn"), e.get("Message")) for e in envelopes]
    assert got == [(d["outputs"]["StatusTopicArn"], status)], f"notifier queue got {got} for one status publish"


def check_failed_jobs_reach_the_dead_letter_queue(stacks, d):
    """A job received maxReceiveCount times without being deleted moves to the queue operators are
    pointed at: the JobsDeadLetterQueueUrl output, the queue JobsDeadLetterAlarm watches."""
    sqs = client(stacks, d, "sqs")
    jobs, dlq = d["outputs"]["JobsQueueUrl"], d["outputs"]["JobsDeadLetterQueueUrl"]
    drain(sqs, jobs)
    drain(sqs, dlq)
    redrive = json.loads(d["queues"]["JobsQueue"]["Attributes"]["RedrivePolicy"])
    sqs.send_message(QueueUrl=jobs, MessageBody=json.dumps({"job": "failing"}))
    for _ in range(int(redrive["maxReceiveCount"])):
        got = sqs.receive_message(QueueUrl=jobs, VisibilityTimeout=0).get("Messages", [])
        assert len(got) == 1
    assert sqs.receive_message(QueueUrl=jobs, VisibilityTimeout=0).get("Messages", []) == []
    assert drain(sqs, dlq) == [{"job": "failing"}], "the failed job is not in JobsDeadLetterQueueUrl"
    cw = client(stacks, d, "cloudwatch")
    alarm = cw.describe_alarms(AlarmNames=[d["resources"]["JobsDeadLetterAlarm"]["physical_id"]])["MetricAlarms"][0]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": dlq.rsplit("/", 1)[-1]}]


def check_the_processor_is_wired_to_what_it_is_given(d):
    """The processor's environment names the stack's buckets, prefix and status topic, and its
    event source mapping reads the queue the uploads topic feeds, through the live alias."""
    env = the_processor(d)["Environment"]["Variables"]
    assert env["ORIGINALS_BUCKET"] == d["outputs"]["OriginalsBucketName"]
    assert env["VARIANTS_BUCKET"] == d["outputs"]["VariantsBucketName"]
    assert env["STATUS_TOPIC_ARN"] == d["outputs"]["StatusTopicArn"]
    rules = d["buckets"]["OriginalsBucket"]["NotificationConfiguration"]["TopicConfigurations"][0]["Filter"]["Key"]["FilterRules"]
    assert env["INPUT_PREFIX"] == {r["Name"]: r["Value"] for r in rules}["prefix"] == d["stack"]["parameters"]["InputPrefix"]
    mapping, = d["event_source_mappings"].values()
    subscribed = {s["Endpoint"] for s in d["topics"]["UploadsTopic"]["Subscriptions"]}
    assert mapping["EventSourceArn"] in subscribed
    assert mapping["EventSourceArn"] == queue_arn(d, "JobsQueue")
    assert mapping["FunctionArn"] == the_processor(d)["FunctionArn"] + ":live"
    notifier = d["functions"]["NotifierFunction"]["Environment"]["Variables"]
    assert notifier["NOTIFIER_QUEUE_URL"] == d["outputs"]["NotifierQueueUrl"]
    assert queue_arn(d, "NotifierQueue") in {s["Endpoint"] for s in d["topics"]["StatusTopic"]["Subscriptions"]}


# ---------------------------------------------------------------- the default stack

def test_an_upload_under_the_prefix_reaches_the_jobs_queue_and_one_outside_does_not(stacks, default):
    check_uploads_reach_the_jobs_queue(stacks, default)


def test_a_status_publish_reaches_the_notifier_queue(stacks, default):
    check_status_reaches_the_notifier_queue(stacks, default)


def test_a_job_that_keeps_failing_reaches_the_jobs_dead_letter_queue(stacks, default):
    check_failed_jobs_reach_the_dead_letter_queue(stacks, default)


def test_the_processor_is_wired_to_its_bucket_prefix_topic_and_queue(default):
    check_the_processor_is_wired_to_what_it_is_given(default)


def test_queues_have_the_templates_visibility_retention_and_redrive(default):
    template, values = deployed_template(default)
    queues = cfn.resources_of(template, "AWS::SQS::Queue")
    assert set(queues) == set(default["queues"])
    for name, queue in queues.items():
        props, attributes = queue["Properties"], default["queues"][name]["Attributes"]
        assert attributes["VisibilityTimeout"] == str(props.get("VisibilityTimeout", 30)), name
        assert attributes["MessageRetentionPeriod"] == str(props.get("MessageRetentionPeriod", 345600)), name
        assert attributes["SqsManagedSseEnabled"] == str(props.get("SqsManagedSseEnabled", False)).lower(), name
        if "RedrivePolicy" in props:
            redrive, deployed = props["RedrivePolicy"], json.loads(attributes["RedrivePolicy"])
            assert int(deployed["maxReceiveCount"]) == int(redrive["maxReceiveCount"]), name
            target = cfn.ref_name(redrive["deadLetterTargetArn"])
            assert deployed["deadLetterTargetArn"] == queue_arn(default, target), name
        else:
            assert "RedrivePolicy" not in attributes, name


def test_functions_have_the_templates_environment_timeout_memory_storage_layers(default):
    template, values = deployed_template(default)
    functions = cfn.resources_of(template, "AWS::Lambda::Function")
    assert set(functions) == set(default["functions"])
    for name, function in functions.items():
        props, deployed = function["Properties"], default["functions"][name]
        expected_env = {k: cfn.evaluate(v, values)
                        for k, v in cfn.resolve_conditions(props.get("Environment", {}), values).get("Variables", {}).items()}
        assert deployed.get("Environment", {}).get("Variables", {}) == expected_env, name
        assert deployed["Timeout"] == int(cfn.evaluate(props.get("Timeout", 3), values)), name
        assert deployed["MemorySize"] == int(cfn.evaluate(props.get("MemorySize", 128), values)), name
        assert deployed["EphemeralStorage"]["Size"] == int(props.get("EphemeralStorage", {}).get("Size", 512)), name
        assert [layer["Arn"] for layer in deployed["Layers"]] == [cfn.evaluate(l, values) for l in props.get("Layers", [])], name
        assert deployed["Architectures"] == props.get("Architectures", ["x86_64"]), name
        assert deployed["Runtime"] == props["Runtime"] and deployed["Handler"] == props["Handler"], name
    processor = the_processor(default)
    assert processor["MemorySize"] == 3008 and processor["Timeout"] == 900
    assert processor["EphemeralStorage"] == {"Size": 4096} and processor["Architectures"] == ["arm64"]
    assert processor["Layers"][0]["Arn"] == default["resources"][
        next(n for n in default["resources"] if n.startswith("FfmpegLayer"))]["physical_id"]
    # Every Rust function is reached through its live alias, on the version the stack published.
    for name in ("ImageProcessorFunction", "NotifierFunction", "ReleaseControllerFunction", "EdgeRouterFunction"):
        assert default["functions"][name]["Aliases"] == {"live": "1"}, name
    assert default["outputs"]["EdgeRouterFunctionUrl"] == default["functions"]["EdgeRouterFunction"]["Url"]


def test_the_event_source_mapping_has_the_templates_batch_size_response_types_and_concurrency(default):
    template, values = deployed_template(default)
    (name, mapping), = cfn.resources_of(template, "AWS::Lambda::EventSourceMapping").items()
    props, deployed = mapping["Properties"], default["event_source_mappings"][name]
    assert deployed["BatchSize"] == int(cfn.evaluate(props["BatchSize"], values)) == 1
    assert deployed["FunctionResponseTypes"] == props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert deployed["ScalingConfig"]["MaximumConcurrency"] == int(cfn.evaluate(props["ScalingConfig"]["MaximumConcurrency"], values)) == 5
    # Enabled in the template, disabled on the emulator: the harness is the poller.
    assert deployed["EnabledInTemplate"] is True and deployed["State"] == "Disabled"


def test_the_description_says_what_was_deployed_and_what_is_a_placeholder(default):
    deployed_types, unmodelled = placeholders.lists()
    resources = default["resources"]
    created = {n: r for n, r in resources.items() if not r["placeholder"]}
    assert {r["type"] for r in created.values()} <= set(deployed_types)
    assert {r["type"] for r in resources.values() if r["placeholder"]} == set(default["placeholders"]) <= set(unmodelled)
    assert default["outputs"]["DistributionId"] == resources["Distribution"]["physical_id"] == "placeholder:Distribution"
    # Conditions hold on the emulator too: no Slack, no web ACL by default; v2 logs in us-east-1.
    assert "SlackChannel" not in resources and "ChatbotRole" not in resources and "WebAcl" not in resources
    assert resources["AccessLogsDelivery"]["placeholder"] is True
    assert default["stack"]["status"] == "CREATE_COMPLETE"
    print(f"\ndefault stack: {len(created)} resources created, {len(resources) - len(created)} placeholders, "
          f"{default['stack']['seconds']} s")


# ---------------------------------------------------------------- parameters, regions, coexistence, deletion

def test_another_parameter_set_in_another_region_flows_through(stacks, default, other):
    assert other["stack"]["region"] == "eu-west-1"
    assert other["outputs"]["JobsQueueUrl"].split("/")[-2] == "123456789012"
    assert ":eu-west-1:" in other["outputs"]["UploadsTopicArn"]
    check_uploads_reach_the_jobs_queue(stacks, other)  # under incoming/, not uploads/
    s3, sqs = client(stacks, other, "s3"), client(stacks, other, "sqs")
    s3.put_object(Bucket=other["outputs"]["OriginalsBucketName"], Key="uploads/photo.jpg", Body=b"x")
    assert drain(sqs, other["outputs"]["JobsQueueUrl"]) == []
    check_the_processor_is_wired_to_what_it_is_given(other)
    processor = the_processor(other)
    assert processor["Environment"]["Variables"]["INPUT_PREFIX"] == "incoming/"
    assert processor["MemorySize"] == 2048
    mapping, = other["event_source_mappings"].values()
    assert mapping["BatchSize"] == 3 and mapping["ScalingConfig"] == {"MaximumConcurrency": 7}
    # AccessLogs=auto: legacy logs outside us-east-1, so no v2 delivery resources at all.
    assert not any(r["type"].startswith("AWS::Logs::Delivery") for r in other["resources"].values())
    assert any(r["type"].startswith("AWS::Logs::Delivery") for r in default["resources"].values())
    # The two stacks share no name.
    names = lambda d: {r["physical_id"] for r in d["resources"].values() if not r["placeholder"]}  # noqa: E731
    assert not names(default) & names(other) - {""}


@pytest.mark.parametrize("region, parameters, refusal", [
    ("eu-west-1", {"AccessLogs": "v2"}, "AccessLogs=v2 needs a stack in us-east-1"),
    ("ap-east-1", {}, "opt-in Region"),
    ("us-east-1", {"ProcessorBatchSize": "11"}, "ProcessorBatchSize"),
])
def test_the_templates_rules_and_constraints_refuse_a_stack(stacks, region, parameters, refusal):
    with pytest.raises(deploy.DeployError, match=refusal):
        stacks.deploy("media-edge-refused", region=region, parameters=parameters)


def test_two_stacks_in_one_region_coexist_and_one_deletes_without_touching_the_other(stacks, default):
    second = stacks.deploy("media-edge-second")
    assert second["outputs"]["OriginalsBucketName"] != default["outputs"]["OriginalsBucketName"]
    check_uploads_reach_the_jobs_queue(stacks, second)
    s3, sqs, lam = (client(stacks, second, s) for s in ("s3", "sqs", "lambda"))
    deploy.delete(stacks.endpoint, second["stack"]["name"])
    stacks.deployed.remove((second["stack"]["name"], "us-east-1"))
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert second["outputs"]["OriginalsBucketName"] not in buckets
    assert default["outputs"]["OriginalsBucketName"] in buckets
    queues = sqs.list_queues().get("QueueUrls", [])
    assert not any(second["stack"]["name"] in q for q in queues)
    functions = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert not any(second["stack"]["name"] in f for f in functions)
    check_uploads_reach_the_jobs_queue(stacks, default)


# ---------------------------------------------------------------- broken copies are caught

def _prefix_filter_not_from_the_parameter(template):
    rules = template["Resources"]["OriginalsBucket"]["Properties"]["NotificationConfiguration"][
        "TopicConfigurations"][0]["Filter"]["S3Key"]["Rules"]
    rules[0]["Value"] = "upload/"


def _subscription_to_the_wrong_queue(template):
    template["Resources"]["UploadsToJobs"]["Properties"]["Endpoint"] = {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}


def _no_subscription(template):
    del template["Resources"]["UploadsToJobs"]


def _redrive_to_the_wrong_queue(template):
    template["Resources"]["JobsQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] = {
        "Fn::GetAtt": ["NotifierDeadLetterQueue", "Arn"]}


def _status_subscription_removed(template):
    del template["Resources"]["StatusToNotifier"]


@pytest.mark.parametrize("mutation, check, failure", [
    (_prefix_filter_not_from_the_parameter, check_uploads_reach_the_jobs_queue, r"jobs queue got \[\] for uploads"),
    (_subscription_to_the_wrong_queue, check_uploads_reach_the_jobs_queue, r"jobs queue got \[\] for uploads"),
    (_no_subscription, check_uploads_reach_the_jobs_queue, r"jobs queue got \[\] for uploads"),
    (_redrive_to_the_wrong_queue, check_failed_jobs_reach_the_dead_letter_queue, "not in JobsDeadLetterQueueUrl"),
    (_status_subscription_removed, check_status_reaches_the_notifier_queue, r"notifier queue got \[\]"),
], ids=lambda x: x.__name__.strip("_") if callable(x) else "")
def test_a_template_with_broken_wiring_fails_the_wiring_check(stacks, tmp_path, mutation, check, failure):
    template = copy.deepcopy(translate.load())
    mutation(template)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    broken = stacks.deploy("media-edge-broken", template=path)
    with pytest.raises(AssertionError, match=failure):
        check(stacks, broken)
