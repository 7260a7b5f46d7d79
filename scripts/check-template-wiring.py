#!/usr/bin/env python3
"""Checks that the local rehearsal (crates/media-edge-local) provisions what infra/template.yaml
declares: the same notification filter, topics → queues, DLQ policy and visibility timeout.
The demo and the emulator tests are only a faithful rehearsal while these agree."""
import pathlib
import re
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    pass


def any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", any_tag)
template = yaml.load((root / "infra/template.yaml").read_text(), Loader=CfnLoader)
resources = template["Resources"]
local = (root / "crates/media-edge-local/src/lib.rs").read_text()


def const(name):
    return re.search(rf"pub const {name}: [^=]+= \"?([^\";]+)\"?;", local).group(1)


problems = []


def expect(what, template_value, local_value):
    if str(template_value) != str(local_value):
        problems.append(f"{what}: template {template_value!r}, local {local_value!r}")


expect("input prefix", template["Parameters"]["InputPrefix"]["Default"], const("INPUT_PREFIX"))
topic_configs = resources["OriginalsBucket"]["Properties"]["NotificationConfiguration"]["TopicConfigurations"]
expect("notification event", topic_configs[0]["Event"], "s3:ObjectCreated:*")
expect("notification target", topic_configs[0]["Topic"], {"Ref": "UploadsTopic"})
jobs = resources["JobsQueue"]["Properties"]
expect("jobs maxReceiveCount", jobs["RedrivePolicy"]["maxReceiveCount"], const("MAX_RECEIVE_COUNT"))
expect("jobs visibility timeout", jobs["VisibilityTimeout"], const("JOBS_VISIBILITY_TIMEOUT_SECONDS"))
expect("jobs DLQ", jobs["RedrivePolicy"]["deadLetterTargetArn"], {"GetAtt": "JobsDeadLetterQueue.Arn"})
# Lambda's guidance for every SQS event source: the queue's visibility timeout at least six times
# the function timeout plus MaximumBatchingWindowInSeconds.
for name, function in resources.items():
    if function["Type"] != "AWS::Serverless::Function":
        continue
    for event in function["Properties"].get("Events", {}).values():
        if event["Type"] != "SQS":
            continue
        queue = event["Properties"]["Queue"]["GetAtt"].split(".")[0]
        visibility = int(resources[queue]["Properties"]["VisibilityTimeout"])
        timeout = int(function["Properties"]["Timeout"])
        window = int(event["Properties"].get("MaximumBatchingWindowInSeconds", 0))
        if visibility < 6 * timeout + window:
            problems.append(f"{queue} visibility timeout {visibility} < 6 × {name} timeout {timeout} + batching window {window}")

subscriptions = {
    (r["Properties"]["TopicArn"]["Ref"], r["Properties"]["Endpoint"]["GetAtt"], r["Properties"]["RawMessageDelivery"])
    for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"
}
for topic, queue in [("UploadsTopic", "JobsQueue.Arn"), ("StatusTopic", "NotifierQueue.Arn")]:
    if (topic, queue, False) not in subscriptions:
        problems.append(f"template lacks {topic} → {queue} (raw delivery off)")
for local_sub in ["uploads_topic_arn, &jobs_queue_arn", "status_topic_arn, &notifier_queue_arn"]:
    if local_sub not in local:
        problems.append(f"local stack lacks subscription {local_sub}")
events = resources["ImageProcessorFunction"]["Properties"]["Events"]["Jobs"]["Properties"]
expect("processor partial batch responses", events["FunctionResponseTypes"], ["ReportBatchItemFailures"])

if problems:
    sys.exit("template and local wiring disagree:\n  " + "\n  ".join(problems))
print("template and local wiring agree")
