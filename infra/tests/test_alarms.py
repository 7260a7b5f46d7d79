"""Every dead-letter queue has an alarm that reaches the Chatbot topic as soon as a message is in it.
The notifier now hands failed publishes back to SQS, so its failures end in its DLQ too."""
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
