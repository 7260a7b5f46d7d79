"""The stack can be created on a fresh account. New accounts often have a Lambda concurrency quota
(Service Quotas, AWS Lambda, "Concurrent executions", code L-B99A9384) of 10. Lambda keeps at
least 100 concurrent executions unreserved: "You can reserve concurrency for as many functions as
you like, as long as you leave at least 100 simultaneous executions unreserved for functions that
aren't configured with a per-function limit" (Lambda API Reference, PutFunctionConcurrency,
https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html). Below a quota of
100 the minimum is the whole quota (the error then reads "Specified ReservedConcurrentExecutions for
function decreases account's UnreservedConcurrentExecution below its minimum value of [50]" on a
quota of 50), so there no function may reserve anything. By default nothing reserves, and the
processor's SQS event source is capped below such a quota. Checked over the SAM-transformed
template, as CloudFormation would deploy it."""
import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
FRESH_ACCOUNT_QUOTA = 10
# Lambda's minimum UnreservedConcurrentExecutions on such an account.
MINIMUM_UNRESERVED = min(100, FRESH_ACCOUNT_QUOTA)


def deployed(**parameters):
    """{logical id: AWS::Lambda::Function properties} as deployed with these parameter values."""
    params = cfn.parameters(TRANSFORMED, **parameters)
    return {
        name: cfn.resolve_conditions(function["Properties"], params)
        for name, function in cfn.resources_of(TRANSFORMED, "AWS::Lambda::Function").items()
    }


def reserved(functions):
    return {name: int(p["ReservedConcurrentExecutions"]) for name, p in functions.items()
            if "ReservedConcurrentExecutions" in p}


def test_a_fresh_account_can_create_the_stack():
    # Any reservation at all would leave 10 - n < 10 unreserved: the function's creation fails and
    # the whole stack rolls back.
    assert FRESH_ACCOUNT_QUOTA - sum(reserved(deployed()).values()) >= MINIMUM_UNRESERVED
    assert reserved(deployed()) == {}
    # Nor provisioned concurrency (it counts against the same pool).
    for name, function in cfn.resources_of(TRANSFORMED, "AWS::Lambda::Alias").items():
        assert "ProvisionedConcurrencyConfig" not in function["Properties"], name


def test_the_processor_default_fits_a_fresh_account():
    # Above the account's free concurrency the SQS source's batches are throttled back to the
    # queue, wait out the 5,400 s visibility timeout and drift to the DLQ. The default leaves room
    # for a run of each other function at once (router, notifier, controller, a deployment hook).
    default = int(TEMPLATE["Parameters"]["ProcessorMaxConcurrency"]["Default"])
    others = len(cfn.resources_of(TEMPLATE, "AWS::Serverless::Function")) - 1
    assert 2 <= default <= FRESH_ACCOUNT_QUOTA - others
    mapping = TRANSFORMED["Resources"]["ImageProcessorFunctionJobs"]["Properties"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ProcessorMaxConcurrency"}


def test_reservations_when_the_account_has_room():
    assert TEMPLATE["Parameters"]["ReserveScheduledConcurrency"]["Default"] == "false"
    assert reserved(deployed(ReserveScheduledConcurrency="true")) == {
        "NotifierFunction": 1, "ReleaseControllerFunction": 1}


def test_docs_say_how_to_check_the_quota():
    text = (cfn.ROOT / "docs/deploying.md").read_text()
    assert "L-B99A9384" in text
    assert "ReserveScheduledConcurrency" in text
    assert "get-account-settings" in text
