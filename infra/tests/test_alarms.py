"""Every dead-letter queue has an alarm that reaches the Chatbot topic as soon as a message is in it.
The notifier now hands failed publishes back to SQS, so its failures end in its DLQ too. A stuck
pipeline (an upload without a status for longer than an ordinary retry takes) has one too."""
import re

import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]


def dead_letter_queues():
    out = set()
    for queue in cfn.resources_of(TEMPLATE, "AWS::SQS::Queue").values():
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            out.add(cfn.ref_name(redrive["deadLetterTargetArn"]))
    return out


def test_every_dead_letter_queue_has_an_alarm_to_the_chatbot_topic():
    dlqs = dead_letter_queues()
    assert dlqs == {"JobsDeadLetterQueue", "NotifierDeadLetterQueue"}
    for dlq in dlqs:
        alarms = []
        for name, alarm in cfn.resources_of(TEMPLATE, "AWS::CloudWatch::Alarm").items():
            props = alarm["Properties"]
            dimensions = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
            if props.get("Namespace") == "AWS/SQS" and dimensions == {"QueueName": {"Fn::GetAtt": [dlq, "QueueName"]}}:
                alarms.append((name, props))
        assert alarms, f"no alarm on {dlq}"
        for name, props in alarms:
            assert props["MetricName"] == "ApproximateNumberOfMessagesVisible", name
            assert props["Statistic"] == "Maximum", name
            # one message is enough
            assert (props["ComparisonOperator"], float(props["Threshold"])) in {
                ("GreaterThanThreshold", 0.0), ("GreaterThanOrEqualToThreshold", 1.0)
            }, name
            assert {"Ref": "ChatbotTopic"} in props["AlarmActions"], name


def test_stuck_pipeline_alarm_watches_the_oldest_job():
    props = RESOURCES["JobsQueueStuckAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["JobsQueue", "QueueName"]}}]
    assert props["Statistic"] == "Maximum"
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == [{"Ref": "ChatbotTopic"}]
    assert props["OKActions"] == [{"Ref": "ChatbotTopic"}]


def test_stuck_means_older_than_one_retry_takes():
    # The processor deletes a job once its status is written. A failed attempt (crash, timeout,
    # transient failure handed back) is retried when the visibility timeout ends, and the retry
    # ends within the function timeout: a job may wait that long on an ordinary retry, no longer.
    props = RESOURCES["JobsQueueStuckAlarm"]["Properties"]
    visibility = int(RESOURCES["JobsQueue"]["Properties"]["VisibilityTimeout"])
    timeout = int(RESOURCES["ImageProcessorFunction"]["Properties"]["Timeout"])
    assert int(props["Threshold"]) == visibility + timeout == 6300
    # Sustained, not one sample; and well before the DLQ (maxReceiveCount visibility timeouts).
    window = int(props["Period"]) * int(props["EvaluationPeriods"])
    assert 60 <= window <= 600
    receives = int(RESOURCES["JobsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"])
    assert int(props["Threshold"]) + window < receives * visibility


def test_failed_originals_alarm_counts_every_failure_class_the_processor_publishes():
    # A failed original is reported (permanent) or retried (transient) and never counts in the
    # function's Errors: without this alarm a permissions or bucket mistake during a deploy fails
    # every upload in silence. It must read the metric the processor publishes (EMF, namespace
    # MediaEdge, dimensions Service and FailureClass) for every class it publishes.
    props = RESOURCES["ImageProcessorFailedOriginalsAlarm"]["Properties"]
    stats = {q["Id"]: q["MetricStat"] for q in props["Metrics"] if "MetricStat" in q}
    classes = set()
    for stat in stats.values():
        metric = stat["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("MediaEdge", "OriginalsFailed")
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert set(dims) == {"Service", "FailureClass"}, dims
        assert dims["Service"] == "image-processor"
        classes.add(dims["FailureClass"])
        assert stat["Stat"] == "Sum"
    shared = cfn.ROOT / "crates/media-edge-shared"
    assert 'NAMESPACE: &str = "MediaEdge"' in (shared / "src/metrics.rs").read_text()
    failure = (shared / "src/failure.rs").read_text()
    enum = re.search(r"impl fmt::Display for FailureClass \{(.*?)\n\}", failure, re.S).group(1)
    assert classes == set(re.findall(r'=> "(\w+)"', enum)), "alarm and FailureClass disagree"
    processor = "\n".join(p.read_text() for p in (cfn.ROOT / "crates/image-processor/src").rglob("*.rs"))
    assert '"OriginalsFailed"' in processor and '"FailureClass"' in processor
    # The Service dimension: MetricSet::new(PIPELINE_NAME), PIPELINE_NAME = "image-processor".
    assert "MetricSet::new(PIPELINE_NAME)" in processor
    assert 'PIPELINE_NAME: &str = "image-processor"' in processor
    # The alarm's value is their sum, with a class that did not report counted as 0.
    (returned,) = [q for q in props["Metrics"] if q.get("ReturnData", True)]
    terms = re.findall(r"FILL\((\w+),\s*0\)", returned["Expression"])
    assert sorted(terms) == sorted(stats) and returned["Expression"].count("+") == len(stats) - 1
    # Bursts, not one bad upload (Slack lists those); sustained faults reach it in one period.
    assert int(stats["permanent"]["Period"]) == 300 and int(props["EvaluationPeriods"]) == 1
    assert 2 <= float(props["Threshold"]) <= 10 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == [{"Ref": "ChatbotTopic"}]
    assert props["OKActions"] == [{"Ref": "ChatbotTopic"}]
