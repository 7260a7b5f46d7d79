#!/usr/bin/env python3
"""Offline checks of infra/template.yaml's wiring that no emulator can make: each SQS event source's
queue visibility at least six times its function's timeout (Lambda's guidance), the notification
and subscriptions the pipeline depends on, partial batch responses. The emulator tests deploy the
template itself (infra/emulator) and exercise the same wiring end to end."""
import pathlib
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


problems = []


def expect(what, template_value, wanted):
    if str(template_value) != str(wanted):
        problems.append(f"{what}: {template_value!r}, wanted {wanted!r}")


topic_configs = resources["OriginalsBucket"]["Properties"]["NotificationConfiguration"]["TopicConfigurations"]
expect("notification event", topic_configs[0]["Event"], "s3:ObjectCreated:*")
expect("notification target", topic_configs[0]["Topic"], {"Ref": "UploadsTopic"})
jobs = resources["JobsQueue"]["Properties"]
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
events = resources["ImageProcessorFunction"]["Properties"]["Events"]["Jobs"]["Properties"]
expect("processor partial batch responses", events["FunctionResponseTypes"], ["ReportBatchItemFailures"])

if problems:
    sys.exit("template wiring:\n  " + "\n  ".join(problems))
print("template wiring: ok")
