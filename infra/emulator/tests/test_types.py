"""The checked-in lists (infra/emulator/unmodelled.json) against the template: every resource type
of infra/template.yaml after the SAM transform is either deployed on the emulator or replaced by a
placeholder with a reason and the checks that cover it instead. A new type on neither list fails
here until someone decides which it is."""
import pathlib

from infra.emulator import moto_models, placeholders, translate

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEPLOYED, UNMODELLED = placeholders.lists()
TOOLS = {"cfn-lint", "checkov", "the doctor's preflight"}


def template_types():
    # Every resource of the transformed template, whatever its Condition.
    return {r["Type"] for r in translate.translate_file(translate.TEMPLATE, "us-east-1")["Resources"].values()}


def test_every_type_of_the_template_is_on_exactly_one_list():
    types = template_types()
    assert not set(DEPLOYED) & set(UNMODELLED)
    neither = types - set(DEPLOYED) - set(UNMODELLED)
    assert not neither, f"add these to infra/emulator/unmodelled.json, deployed or unmodelled: {sorted(neither)}"


def test_the_lists_name_only_types_of_the_template():
    stale = (set(DEPLOYED) | set(UNMODELLED)) - template_types()
    assert not stale, f"no longer in the template: {sorted(stale)}"


def test_every_unmodelled_type_says_why_and_what_checks_it():
    for type_, entry in UNMODELLED.items():
        assert entry["reason"].strip(), type_
        assert entry["checked_by"], type_
        for check in entry["checked_by"]:
            assert check in TOOLS or (ROOT / check).is_file(), f"{type_}: {check} is neither a file nor {TOOLS}"


def test_every_deployed_type_has_a_model_on_the_emulator():
    from moto.cloudformation import parsing

    moto_models.register()
    missing = [t for t in DEPLOYED if t not in parsing.get_model_map()]
    assert not missing, f"moto (with infra/emulator/moto_models.py) has no CloudFormation model for {missing}"


def test_a_type_on_neither_list_is_refused_by_deploy():
    import pytest

    from infra.emulator import deploy

    template = {"Resources": {"Thing": {"Type": "AWS::Made::Up", "Properties": {}}}}
    emulated, replaced = placeholders.apply(template)
    assert replaced == {}
    unknown = {r["Type"] for r in emulated["Resources"].values()} - set(DEPLOYED)
    assert unknown == {"AWS::Made::Up"}
    with pytest.raises(deploy.DeployError, match="AWS::Made::Up"):
        deploy.check_types(emulated)
