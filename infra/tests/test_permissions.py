"""Least privilege for the queue-driven functions and the router's invoke permission, checked over
the SAM-transformed template (what CloudFormation deploys)."""
import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]


def sqs_sources():
    """{function: queue logical id} for every queue a function consumes: its SQS event source, or
    the queue it reads itself (the notifier's NOTIFIER_QUEUE_URL, read once per digest window)."""
    out = {}
    for name, function in cfn.resources_of(TEMPLATE, "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                out[name] = cfn.ref_name(event["Properties"]["Queue"])
        queue_url = function["Properties"].get("Environment", {}).get("Variables", {}).get("NOTIFIER_QUEUE_URL")
        if queue_url:
            out[name] = cfn.ref_name(queue_url)
    return out


def test_no_role_gets_the_managed_sqs_execution_role():
    # AWSLambdaSQSQueueExecutionRole (what SAM attaches for an SQS event) allows receive and delete
    # on every queue of the account (Resource "*"), dead-letter queues included.
    for name, role in cfn.resources_of(TRANSFORMED, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert "SQSQueueExecutionRole" not in str(arn), f"{name}: {arn}"


def test_no_statement_grants_sqs_on_every_queue():
    for name in cfn.resources_of(TRANSFORMED, "AWS::IAM::Role"):
        statements, _ = cfn.role_permissions(TRANSFORMED, name)
        for s in statements:
            actions = [a for a in cfn.as_list(s.get("Action", [])) if a.lower().startswith("sqs:") or a == "*"]
            if actions and s.get("Effect") == "Allow":
                assert "*" not in cfn.as_list(s.get("Resource")), f"{name}: {actions} on *"


def test_queue_functions_consume_their_own_queue_only():
    sources = sqs_sources()
    assert sources == {"ImageProcessorFunction": "JobsQueue", "NotifierFunction": "NotifierQueue"}
    for function, queue in sources.items():
        statements, _ = cfn.role_permissions(TRANSFORMED, cfn.function_role(TRANSFORMED, function))
        own = {"Fn::GetAtt": [queue, "Arn"]}
        for action in CONSUME:
            grants = cfn.allowed(statements, action)
            assert grants, f"{function} lacks {action}"
            for resource, _ in grants:
                assert cfn.as_list(resource) == [own], f"{function}: {action} on {resource!r}"
        for s in statements:
            if any(a.lower().startswith("sqs:") for a in cfn.as_list(s["Action"])):
                assert cfn.as_list(s["Resource"]) == [own], f"{function}: {s}"


def test_queue_functions_may_write_their_logs():
    for function in sqs_sources():
        statements, managed = cfn.role_permissions(TRANSFORMED, cfn.function_role(TRANSFORMED, function))
        basic = any("AWSLambdaBasicExecutionRole" in str(arn) for arn in managed)
        assert basic or cfn.allowed(statements, "logs:PutLogEvents"), function


def test_router_invoke_permission_applies_only_through_its_function_url():
    # AWS::Lambda::Permission InvokedViaFunctionUrl: the lambda:InvokeFunction permission a function
    # URL needs besides lambda:InvokeFunctionUrl, valid only for calls through the URL (CloudFormation
    # template reference, AWS::Lambda::Permission; Lambda "Control access to function URLs").
    distribution = {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"}
    invoke = TEMPLATE["Resources"]["EdgeRouterInvokePermission"]["Properties"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["InvokedViaFunctionUrl"] is True
    assert invoke["Principal"] == "cloudfront.amazonaws.com" and invoke["SourceArn"] == distribution
    url = TEMPLATE["Resources"]["EdgeRouterUrlPermission"]["Properties"]
    assert url["Action"] == "lambda:InvokeFunctionUrl" and url["FunctionUrlAuthType"] == "AWS_IAM"
    assert url["Principal"] == "cloudfront.amazonaws.com" and url["SourceArn"] == distribution
    permissions = cfn.resources_of(TRANSFORMED, "AWS::Lambda::Permission")
    for name, p in permissions.items():
        if p["Properties"]["Action"] == "lambda:InvokeFunction" and p["Properties"].get("Principal") == "cloudfront.amazonaws.com":
            assert p["Properties"].get("InvokedViaFunctionUrl") is True, name


def test_the_processor_deletes_only_its_processing_claims():
    # One rendering per version at a time: a claim object under .claims/ in the variants bucket,
    # removed when the rendering ends; a claim left behind (its message dead-lettered) expires.
    statements, _ = cfn.role_permissions(TRANSFORMED, cfn.function_role(TRANSFORMED, "ImageProcessorFunction"))
    grants = cfn.allowed(statements, "s3:DeleteObject")
    assert [cfn.as_list(resource) for resource, _ in grants] == [[{"Fn::Sub": "${VariantsBucket.Arn}/.claims/*"}]]
    rules = TEMPLATE["Resources"]["VariantsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    claims = [r for r in rules if r.get("Prefix") == ".claims/"]
    assert claims and claims[0]["Status"] == "Enabled" and int(claims[0]["ExpirationInDays"]) <= 2
