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
