"""SQS event sources: batch size and concurrency of the processor, the permissions its hand-back of
unstarted jobs needs, and visibility timeouts long enough for every queue-driven function."""
import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
PROCESSOR = TEMPLATE["Resources"]["ImageProcessorFunction"]["Properties"]


def test_processor_takes_one_message_per_invocation_by_default():
    # A heavy GIF can use a whole invocation; with more messages per batch the rest would be handed
    # back, each hand-back a receive (towards the DLQ) and a visibility-timeout wait.
    jobs = PROCESSOR["Events"]["Jobs"]["Properties"]
    batch = jobs["BatchSize"]
    if isinstance(batch, dict):
        assert batch == {"Ref": "ProcessorBatchSize"}
        batch = TEMPLATE["Parameters"]["ProcessorBatchSize"]["Default"]
    assert int(batch) == 1
    assert "MaximumBatchingWindowInSeconds" not in jobs


def test_processor_parallelism_comes_from_maximum_concurrency():
    jobs = PROCESSOR["Events"]["Jobs"]["Properties"]
    assert jobs["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ProcessorMaxConcurrency"}
    # Lambda's minimum for SQS MaximumConcurrency is 2.
    assert int(TEMPLATE["Parameters"]["ProcessorMaxConcurrency"]["MinValue"]) >= 2
    mapping = TRANSFORMED["Resources"]["ImageProcessorFunctionJobs"]["Properties"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ProcessorMaxConcurrency"}


def test_processor_may_requeue_unstarted_jobs_on_its_own_queue_only():
    statements, _ = cfn.role_permissions(TRANSFORMED, cfn.function_role(TRANSFORMED, "ImageProcessorFunction"))
    jobs_arn = {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    for action in ("sqs:SendMessage", "sqs:GetQueueUrl"):
        grants = cfn.allowed(statements, action)
        assert grants, f"processor lacks {action}"
        for resource, condition in grants:
            assert cfn.as_list(resource) == [jobs_arn], f"{action} on {resource!r}"
            assert condition is None


def _sqs_event_sources():
    for name, function in cfn.resources_of(TEMPLATE, "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                yield name, function["Properties"], event["Properties"]


def test_every_sqs_source_has_a_visibility_timeout_of_six_timeouts_plus_the_batching_window():
    # "set the source queue's visibility timeout to at least six times the timeout that you
    # configure on your function, plus the value of MaximumBatchingWindowInSeconds" (AWS Lambda
    # Developer Guide, Using Lambda with Amazon SQS,
    # https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-queueconfig and
    # services-sqs-configure.html): throttled batches otherwise come back while still running.
    sources = list(_sqs_event_sources())
    assert {name for name, _, _ in sources} == {"ImageProcessorFunction"}
    for name, function, event in sources:
        queue = cfn.ref_name(event["Queue"])
        visibility = int(TEMPLATE["Resources"][queue]["Properties"]["VisibilityTimeout"])
        needed = 6 * int(function["Timeout"]) + int(event.get("MaximumBatchingWindowInSeconds", 0))
        assert visibility >= needed, f"{queue}: {visibility} s < {needed} s for {name}"


def test_the_notifier_posts_once_per_window_from_a_schedule():
    # An SQS event source posts per batch: 10,000 uploads an hour would be about 1,100 Slack
    # messages. A schedule reads the queue once per window instead, one run at a time.
    notifier = TEMPLATE["Resources"]["NotifierFunction"]["Properties"]
    assert [e["Type"] for e in notifier["Events"].values()] == ["Schedule"]
    window = notifier["Events"]["DigestWindow"]["Properties"]
    assert window["Schedule"] == {"Fn::Sub": "rate(${SlackDigestMinutes} minutes)"}
    # "rate(1 minutes)" is not a valid expression (singular unit for 1): the minimum is 2.
    minutes = TEMPLATE["Parameters"]["SlackDigestMinutes"]
    assert int(minutes["MinValue"]) >= 2 and int(minutes["MinValue"]) <= int(minutes["Default"]) <= 10
    # Reserved concurrency only when asked for (a fresh account cannot reserve any: test_concurrency).
    assert notifier["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservesScheduledConcurrency", 1, {"Ref": "AWS::NoValue"}]}
    assert notifier["Environment"]["Variables"]["NOTIFIER_QUEUE_URL"] == {"Ref": "NotifierQueue"}
    # The rule invokes the live alias, so a canary deployment of the notifier is what runs.
    rule = TRANSFORMED["Resources"]["NotifierFunctionDigestWindow"]["Properties"]
    assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": "NotifierFunctionAliaslive"}]


def test_a_message_the_notifier_reads_stays_hidden_for_the_whole_run():
    # Otherwise the run that is still reading could receive (and report) it twice.
    notifier = TEMPLATE["Resources"]["NotifierFunction"]["Properties"]
    queue = TEMPLATE["Resources"]["NotifierQueue"]["Properties"]
    assert int(queue["VisibilityTimeout"]) > int(notifier["Timeout"])
    # ...and comes back within a window or two if the run died.
    assert int(queue["VisibilityTimeout"]) <= 2 * 60 * int(TEMPLATE["Parameters"]["SlackDigestMinutes"]["MinValue"])


def test_notifier_runs_of_the_schedule_do_not_overlap():
    # Without reserved concurrency nothing stops two runs at once; on time they never are: a run
    # ends within the function timeout, and windows are at least SlackDigestMinutes' MinValue apart.
    notifier = TEMPLATE["Resources"]["NotifierFunction"]["Properties"]
    minutes = TEMPLATE["Parameters"]["SlackDigestMinutes"]
    assert int(notifier["Timeout"]) <= 60 * int(minutes["MinValue"])
