"""infra/deploy-facts.json, what `media-edge doctor` knows of the template without parsing it: written
by scripts/render-template.py from the rendered template. Here a few of its values are derived
again, differently (conditions evaluated, parameters resolved the way the other template tests do),
and compared; `make validate` (render-template.py --check) fails when the file is out of date."""
import json
import re
import subprocess
import sys

import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]
FACTS = json.loads((cfn.ROOT / "infra/deploy-facts.json").read_text())


def test_the_file_is_what_the_render_writes():
    result = subprocess.run([sys.executable, str(cfn.ROOT / "scripts/render-template.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = (cfn.ROOT / "infra/deploy-facts.json").read_text()
    assert text == json.dumps(FACTS, indent=2, ensure_ascii=False) + "\n"


def test_exactly_the_keys_the_doctor_reads():
    assert list(FACTS) == ["comment", "parameters", "functions", "reserved_concurrency", "conditions",
                           "regions_enabled_by_default", "v2_log_fields", "v2_log_fields_with_release_log_data",
                           "probe_channel"]
    assert "generated" in FACTS["comment"].lower() and "infra/template.yaml" in FACTS["comment"]
    assert "scripts/render-template.py" in FACTS["comment"] and "media-edge doctor" in FACTS["comment"]


def test_parameter_defaults_are_the_strings_cloudformation_passes():
    # cfn.parameters: every default as the string a stack gets when no value is given.
    defaults = {k: v for k, v in cfn.parameters(TEMPLATE).items() if not k.startswith("AWS::")}
    assert {name: p["default"] for name, p in FACTS["parameters"].items()} == defaults
    assert FACTS["parameters"]["ProcessorMaxConcurrency"] == {"default": "5", "allowed": None}
    assert FACTS["parameters"]["InputPrefix"]["default"] == "uploads/"
    assert FACTS["parameters"]["DomainName"]["default"] == ""
    assert FACTS["parameters"]["ReserveScheduledConcurrency"] == {"default": "false", "allowed": ["true", "false"]}
    for name, p in TEMPLATE["Parameters"].items():
        allowed = FACTS["parameters"][name]["allowed"]
        assert allowed == ([str(v) for v in p["AllowedValues"]] if "AllowedValues" in p else None), name
        assert allowed is None or FACTS["parameters"][name]["default"] in allowed, name


def test_functions_are_the_templates():
    assert FACTS["functions"] == sorted(cfn.resources_of(TEMPLATE, "AWS::Serverless::Function"))


def test_reserved_concurrency_and_its_condition_as_the_stack_deploys_them():
    # Evaluated: which functions reserve what with the condition's parameter at its "equals" value,
    # and that none do otherwise.
    def reserved(**parameters):
        params = cfn.parameters(TEMPLATE, **parameters)
        out = {}
        for name in FACTS["functions"]:
            props = cfn.resolve_conditions(RESOURCES[name]["Properties"], params)
            if "ReservedConcurrentExecutions" in props:
                out[name] = int(props["ReservedConcurrentExecutions"])
        return out

    assert set(FACTS["reserved_concurrency"]) == {"NotifierFunction", "ReleaseControllerFunction"}
    for name, fact in FACTS["reserved_concurrency"].items():
        condition = FACTS["conditions"][fact["condition"]]
        assert reserved(**{condition["parameter"]: condition["equals"]})[name] == fact["value"] == 1
        assert name not in reserved()  # the default leaves the condition false (test_concurrency)
    assert FACTS["conditions"] == {
        "ReservesScheduledConcurrency": {"parameter": "ReserveScheduledConcurrency", "equals": "true"}}
    assert cfn.condition("ReservesScheduledConcurrency", cfn.parameters(TEMPLATE, ReserveScheduledConcurrency="true"))


def test_regions_are_the_rules_list_in_order():
    (assertion,) = TEMPLATE["Rules"]["LogsBucketRegionTakesCloudFrontLogs"]["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"}
    assert FACTS["regions_enabled_by_default"] == regions
    assert FACTS["regions_enabled_by_default"][0] == "us-east-1" and len(set(regions)) == len(regions) == 17


def test_v2_fields_are_the_delivery_fields_without_and_with_release_log_data():
    fields = RESOURCES["AccessLogsDelivery"]["Properties"]["RecordFields"]

    def deployed(**parameters):
        return cfn.resolve_conditions(fields, cfn.parameters(TEMPLATE, **parameters))

    assert FACTS["v2_log_fields"] == deployed()
    with_data = deployed(ReleaseLogData="true")
    assert FACTS["v2_log_fields"] + FACTS["v2_log_fields_with_release_log_data"] == with_data
    assert FACTS["v2_log_fields_with_release_log_data"] == ["viewer-request-log-data"]


def test_the_probe_channel_is_the_behaviours_and_the_routers():
    patterns = [b["PathPattern"] for b in cfn.distribution_config(TEMPLATE)["CacheBehaviors"]]
    probe = FACTS["probe_channel"]
    assert probe == "media-edge-probe" and f"/{probe}/*" in patterns
    router = RESOURCES["EdgeRouterFunction"]["Properties"]["Environment"]["Variables"]["CHANNELS"]
    assert cfn.evaluate(router, cfn.parameters(TEMPLATE)).split(",")[-1] == probe
    assert re.fullmatch(r"[a-z0-9-]+", probe)
