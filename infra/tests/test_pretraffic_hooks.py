"""The scheduled functions' canary gates sample a new version before it takes traffic: a 5-minute
canary step at 10% sees about 0.1 notifier runs (every SlackDigestMinutes, 5) and 0.5 controller
runs (every minute), so an alarm on the new version's errors can only pass. Each of the two gets a
CodeDeploy PreTraffic hook (SAM DeploymentPreference Hooks) that invokes the new version once with
the event its schedule sends and fails the deployment on a FunctionError.

AWS's rules asserted here: SAM turns Hooks.PreTraffic into the alias's UpdatePolicy
CodeDeployLambdaAliasUpdate.BeforeAllowTrafficHook ("Deploying serverless applications gradually
with AWS SAM"); SAM's CodeDeploy role carries the managed policy AWSCodeDeployRoleForLambda, which
may invoke only "arn:aws:lambda:*:*:function:CodeDeployHook_*" (AWS Managed Policy Reference); a
hook reports with codedeploy:PutLifecycleEventHookExecutionStatus (resource: the deployment group)
before CodeDeploy's one-hour hook timeout."""
import io
import json
import re
import sys
import types

import pytest

import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
RESOURCES = TEMPLATE["Resources"]
HOOKS = {"NotifierFunction": "NotifierPreTrafficHook", "ReleaseControllerFunction": "ReleaseControllerPreTrafficHook"}


@pytest.mark.parametrize("function,hook", HOOKS.items())
def test_scheduled_functions_run_their_new_version_before_traffic(function, hook):
    preference = RESOURCES[function]["Properties"]["DeploymentPreference"]
    assert preference["Hooks"] == {"PreTraffic": {"Ref": hook}}
    alias = TRANSFORMED["Resources"][f"{function}Aliaslive"]
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["BeforeAllowTrafficHook"] == {"Ref": hook}


def test_every_scheduled_function_has_a_hook():
    scheduled = {name for name, f in cfn.resources_of(TEMPLATE, "AWS::Serverless::Function").items()
                 if any(e["Type"] == "Schedule" for e in f["Properties"].get("Events", {}).values())}
    assert scheduled == set(HOOKS)


@pytest.mark.parametrize("function,hook", HOOKS.items())
def test_hooks_are_named_so_the_codedeploy_role_may_invoke_them(function, hook):
    name = cfn.evaluate(RESOURCES[hook]["Properties"]["FunctionName"], cfn.parameters(TEMPLATE))
    assert name.startswith("CodeDeployHook_"), name
    # Lambda function names: 1-64 of letters, digits, hyphens and underscores.
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name), name
    # Per stack: two stacks in one account and Region must not collide.
    other = cfn.evaluate(RESOURCES[hook]["Properties"]["FunctionName"],
                         cfn.parameters(TEMPLATE, stack_uuid="9abcdef0-982a-11e3-aff7-50e2416294e0"))
    assert other != name
    role = TRANSFORMED["Resources"]["CodeDeployServiceRole"]["Properties"]
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"]
    assert "Policies" not in role  # nothing else lets CodeDeploy invoke another name


@pytest.mark.parametrize("function,hook", HOOKS.items())
def test_a_hook_may_report_and_invoke_its_new_version_only(function, hook):
    statements, managed = cfn.role_permissions(TRANSFORMED, cfn.function_role(TRANSFORMED, hook))
    assert managed == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    version = TRANSFORMED["Resources"][f"{function}Aliaslive"]["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    actions = sorted(a for s in statements for a in cfn.as_list(s["Action"]))
    assert actions == ["codedeploy:PutLifecycleEventHookExecutionStatus", "lambda:InvokeFunction"]
    assert cfn.allowed(statements, "lambda:InvokeFunction") == [({"Ref": version}, None)]
    assert cfn.allowed(statements, "codedeploy:PutLifecycleEventHookExecutionStatus") == [({"Fn::Sub": (
        "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:"
        "${ServerlessDeploymentApplication}/*")}, None)]
    variables = TRANSFORMED["Resources"][hook]["Properties"]["Environment"]["Variables"]
    assert variables["TARGET_VERSION"] == {"Ref": version}


@pytest.mark.parametrize("function,hook", HOOKS.items())
def test_a_hook_waits_for_a_whole_run(function, hook):
    target = int(RESOURCES[function]["Properties"]["Timeout"])
    props = RESOURCES[hook]["Properties"]
    assert int(props["Environment"]["Variables"]["TARGET_TIMEOUT"]) == target
    # The invoke may take the target's whole timeout; the hook must outlive it and still report.
    assert int(props["Timeout"]) >= target + 45
    assert int(props["Timeout"]) < 3600  # CodeDeploy's hook timeout
    assert props["Runtime"].startswith("python3") and props["Handler"] == "index.handler"


# ---------------------------------------------------------------- the hook's code, run with fakes

class FakeLambda:
    def __init__(self, function_error=None, raises=None, body=b"{}"):
        self.calls, self.function_error, self.raises, self.body = [], function_error, raises, body

    def invoke(self, **kwargs):
        self.calls.append(kwargs)
        if self.raises:
            raise self.raises
        response = {"StatusCode": 200, "Payload": io.BytesIO(self.body)}
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


class FakeCodeDeploy:
    def __init__(self):
        self.reports = []

    def put_lifecycle_event_hook_execution_status(self, **kwargs):
        self.reports.append(kwargs)


def load_hook(monkeypatch, hook, fake_lambda, fake_codedeploy):
    """The hook's InlineCode as Lambda runs it, with boto3 clients replaced by fakes."""
    props = RESOURCES[hook]["Properties"]
    for key, value in props["Environment"]["Variables"].items():
        monkeypatch.setenv(key, value if isinstance(value, str) else "arn:aws:lambda:eu-west-1:123456789012:function:x:7")
    configs = {}

    def client(name, config=None, **_):
        configs[name] = config
        return {"lambda": fake_lambda, "codedeploy": fake_codedeploy}[name]

    fake_boto3 = types.ModuleType("boto3")
    fake_boto3.client = client
    monkeypatch.setitem(sys.modules, "boto3", fake_boto3)
    module = types.ModuleType("index")
    exec(compile(props["InlineCode"], f"{hook}/index.py", "exec"), module.__dict__)
    return module, configs


EVENT = {"DeploymentId": "d-ABC123", "LifecycleEventHookExecutionId": "hook-1"}


@pytest.mark.parametrize("hook", HOOKS.values())
def test_hook_passes_a_version_that_runs(monkeypatch, hook):
    fake_lambda, fake_codedeploy = FakeLambda(), FakeCodeDeploy()
    module, configs = load_hook(monkeypatch, hook, fake_lambda, fake_codedeploy)
    assert module.handler(dict(EVENT), None) == "Succeeded"
    (call,) = fake_lambda.calls  # invoked once
    assert call["InvocationType"] == "RequestResponse"
    assert call["FunctionName"].endswith(":7")  # the version, not the alias
    assert fake_codedeploy.reports == [{"deploymentId": "d-ABC123", "lifecycleEventHookExecutionId": "hook-1",
                                        "status": "Succeeded"}]
    # No retry (a retried invoke would run the target twice) and a read timeout past its run.
    config = configs["lambda"]
    assert config.retries["total_max_attempts"] == 1
    assert config.read_timeout > int(RESOURCES[hook]["Properties"]["Environment"]["Variables"]["TARGET_TIMEOUT"])


@pytest.mark.parametrize("hook", HOOKS.values())
@pytest.mark.parametrize("fake", [FakeLambda(function_error="Unhandled", body=b'{"errorMessage":"sdk: denied"}'),
                                  FakeLambda(raises=RuntimeError("throttled"))], ids=["function-error", "invoke-error"])
def test_hook_fails_the_deployment_when_the_version_fails(monkeypatch, hook, fake):
    fake.calls = []
    fake_codedeploy = FakeCodeDeploy()
    module, _ = load_hook(monkeypatch, hook, fake, fake_codedeploy)
    assert module.handler(dict(EVENT), None) == "Failed"
    assert [r["status"] for r in fake_codedeploy.reports] == ["Failed"]


def test_the_event_is_the_schedules_and_the_notifier_takes_it_as_its_window(monkeypatch):
    fake_lambda = FakeLambda()
    module, _ = load_hook(monkeypatch, "NotifierPreTrafficHook", fake_lambda, FakeCodeDeploy())
    module.handler(dict(EVENT), None)
    payload = json.loads(fake_lambda.calls[0]["Payload"])
    assert payload["detail-type"] == "Scheduled Event" and payload["source"] == "aws.events"
    assert "Records" not in payload
    # crates/notifier/src/main.rs: an event with "Records" is an SQS batch, anything else the
    # schedule's window.
    main = (cfn.ROOT / "crates/notifier/src/main.rs").read_text()
    assert 'event.payload.get("Records").is_some()' in main
    # crates/release-controller/src/main.rs: the hook's run (its event id) reports a channel the
    # environment kept it from looking after without failing the deployment.
    assert payload["id"].startswith("codedeploy-pretraffic-")
    controller = (cfn.ROOT / "crates/release-controller/src/main.rs").read_text()
    assert 'id.starts_with("codedeploy-pretraffic-")' in controller
