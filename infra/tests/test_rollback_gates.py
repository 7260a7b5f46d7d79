"""Rollback gates that see only the new version, and canary steps long enough for them to fire,
over the SAM-transformed template."""
import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
ALARMS = cfn.resources_of(TEMPLATE, "AWS::CloudWatch::Alarm")
FUNCTIONS = cfn.gradually_deployed_functions(TEMPLATE)


def _alias_and_version(function_name):
    """The alias SAM creates for AutoPublishAlias and the version resource it points at."""
    alias_name = FUNCTIONS[function_name]["Properties"]["AutoPublishAlias"]
    alias = TRANSFORMED["Resources"][f"{function_name}Alias{alias_name}"]
    version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"]
    assert version[1] == "Version" and TRANSFORMED["Resources"][version[0]]["Type"] == "AWS::Lambda::Version"
    return alias_name, version[0]


# Lambda's function URL metrics (https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html).
URL_METRICS = {"UrlRequestCount", "Url4xxCount", "Url5xxCount", "UrlRequestLatency"}


def test_gates_count_the_new_version_behind_the_alias_only():
    # AWS's guide to gradual deployments with SAM gates on the alias (Resource = <function>:<alias>)
    # and the new version (ExecutedVersion = !GetAtt <function>.Version.Version), see
    # https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/automating-updates-to-serverless-apps.html
    # Lambda publishes Errors per FunctionName, per FunctionName + Resource, and per FunctionName +
    # Resource + ExecutedVersion: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html .
    # FunctionName alone counts every version: errors of the old one would roll back the new one.
    # Function URL metrics (Url*) of an alias's URL are the exception: see the next test.
    for name, function in FUNCTIONS.items():
        alias_name, version_resource = _alias_and_version(name)
        for entry in function["Properties"]["DeploymentPreference"]["Alarms"]:
            alarm = TRANSFORMED["Resources"][entry["Ref"]]["Properties"]
            assert alarm["Namespace"] == "AWS/Lambda", entry
            if alarm["MetricName"] in URL_METRICS:
                continue
            dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            assert dimensions == {
                "FunctionName": {"Ref": name},
                "Resource": {"Fn::Sub": f"${{{name}}}:{alias_name}"},
                "ExecutedVersion": {"Fn::GetAtt": [version_resource, "Version"]},
            }, entry["Ref"]


# Predefined deployment types SAM accepts (sam-property-function-deploymentpreference.html and
# automating-updates-to-serverless-apps.html): CodeDeployDefault.Lambda<Type>.
INTERVAL_MINUTES = {
    "Canary10Percent5Minutes": 5, "Canary10Percent10Minutes": 10, "Canary10Percent15Minutes": 15,
    "Canary10Percent30Minutes": 30, "Linear10PercentEvery1Minute": 1, "Linear10PercentEvery2Minutes": 2,
    "Linear10PercentEvery3Minutes": 3, "Linear10PercentEvery10Minutes": 10, "AllAtOnce": 0,
}


def _sqs_batching_window(function):
    windows = [
        int(e["Properties"].get("MaximumBatchingWindowInSeconds", 0))
        for e in function["Properties"].get("Events", {}).values() if e["Type"] == "SQS"
    ]
    return max(windows, default=0)


def test_each_canary_step_outlasts_one_invocation_and_its_alarm():
    # The new version's failures (a timeout shows only when the timeout is reached) must be able
    # to reach the alarm before the step ends, or the rollback gate opens after all traffic moved.
    for name, function in FUNCTIONS.items():
        props = function["Properties"]
        kind = props["DeploymentPreference"]["Type"]
        assert kind in INTERVAL_MINUTES, kind
        alarm_seconds = max(
            int(ALARMS[a["Ref"]]["Properties"]["Period"]) * int(ALARMS[a["Ref"]]["Properties"]["EvaluationPeriods"])
            for a in props["DeploymentPreference"]["Alarms"]
        )
        needed = int(props["Timeout"]) + _sqs_batching_window(function) + alarm_seconds
        assert INTERVAL_MINUTES[kind] * 60 > needed, f"{name}: {kind} is shorter than {needed} s"


def test_processor_canary_is_longer_than_its_timeout():
    props = FUNCTIONS["ImageProcessorFunction"]["Properties"]
    assert INTERVAL_MINUTES[props["DeploymentPreference"]["Type"]] * 60 > int(props["Timeout"])


def test_function_url_gates_watch_the_alias_url_as_lambda_publishes_it():
    # "Monitoring Lambda function URLs" (Lambda Developer Guide): FunctionName gives the aggregate
    # of the function's URLs, Resource a specific URL (<function>:$LATEST or :<alias>), and
    # ExecutedVersion is "primarily to track the function URL assigned to the $LATEST unpublished
    # version". The router's URL is on its live alias, so its gate names the function and that
    # alias: with ExecutedVersion it could wait on a series Lambda never publishes for an alias
    # URL, and with missing data notBreaching it would never fire.
    url_gates = 0
    for name, function in FUNCTIONS.items():
        alias_name, _ = _alias_and_version(name)
        for entry in function["Properties"]["DeploymentPreference"]["Alarms"]:
            alarm = TRANSFORMED["Resources"][entry["Ref"]]["Properties"]
            if alarm["MetricName"] not in URL_METRICS:
                continue
            url_gates += 1
            assert "FunctionUrlConfig" in function["Properties"], f"{entry['Ref']}: {name} has no URL"
            dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            assert dimensions == {
                "FunctionName": {"Ref": name},
                "Resource": {"Fn::Sub": f"${{{name}}}:{alias_name}"},
            }, entry["Ref"]
    assert url_gates == 1  # EdgeRouter5xxAlarm
    # The URL SAM makes for FunctionUrlConfig is the alias's (Qualifier = the alias).
    url = TRANSFORMED["Resources"]["EdgeRouterFunctionUrl"]["Properties"]
    assert cfn.ref_name(url["TargetFunctionArn"]) == "EdgeRouterFunctionAliaslive"
