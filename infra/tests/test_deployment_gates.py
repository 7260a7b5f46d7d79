"""The rollback gates of the gradual deployments (DeploymentPreference) are real alarms of the
template: over the rendered template and over what the SAM transform makes of it (the CodeDeploy
deployment groups)."""
import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
ALARMS = cfn.resources_of(TEMPLATE, "AWS::CloudWatch::Alarm")
FUNCTIONS = cfn.gradually_deployed_functions(TEMPLATE)


def test_every_function_deploys_gradually_with_gates():
    assert set(FUNCTIONS) == {"ImageProcessorFunction", "NotifierFunction", "EdgeRouterFunction", "ReleaseControllerFunction"}
    for name, function in FUNCTIONS.items():
        assert function["Properties"]["DeploymentPreference"].get("Alarms"), name


def test_every_gate_is_a_ref_to_an_alarm_of_the_template():
    # `Alarms: [!Ref A, B]` gives CodeDeploy the literal name "B": a YAML tag applies to one node.
    for name, function in FUNCTIONS.items():
        for entry in function["Properties"]["DeploymentPreference"]["Alarms"]:
            assert isinstance(entry, dict) and set(entry) == {"Ref"}, f"{name}: {entry!r} is not a !Ref"
            assert entry["Ref"] in ALARMS, f"{name}: {entry['Ref']} is not an AWS::CloudWatch::Alarm"


def test_deployment_groups_name_only_alarms_of_the_template():
    groups = cfn.resources_of(TRANSFORMED, "AWS::CodeDeploy::DeploymentGroup")
    assert len(groups) == len(FUNCTIONS)
    for group_name, group in groups.items():
        config = group["Properties"]["AlarmConfiguration"]
        assert config["Enabled"] is True
        for alarm in config["Alarms"]:
            assert cfn.ref_name(alarm["Name"]) in ALARMS, f"{group_name}: {alarm['Name']!r}"


def test_no_deployed_function_carries_the_soaks_fault_injection():
    # MEDIA_EDGE_PANIC_ON_KEY makes the processor panic on purpose (`make soak` proves panic
    # isolation with it); a deployed function must never have it.
    for name, function in cfn.resources_of(cfn.rendered(), "AWS::Serverless::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "MEDIA_EDGE_PANIC_ON_KEY" not in variables, name
    globals_env = cfn.rendered().get("Globals", {}).get("Function", {}).get("Environment", {})
    assert "MEDIA_EDGE_PANIC_ON_KEY" not in globals_env.get("Variables", {})
