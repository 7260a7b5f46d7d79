"""Every dead-letter queue has an alarm that reaches the Chatbot topic as soon as a message is in it.
The notifier now hands failed publishes back to SQS, so its failures end in its DLQ too. A stuck
pipeline (an upload without a status for longer than an ordinary retry takes) has one too."""
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
