"""Resources the emulator cannot model (the "unmodelled" list of unmodelled.json) replaced by
placeholders it can create, so that a stack of the whole template comes up.

A placeholder is an AWS::SSM::Parameter that plain moto creates (so it is listed among the
stack's resources, and only when its Condition holds): named /media-edge-emulator/<stack>/<LogicalId>,
its value says what it stands for. It keeps the resource's Condition and DependsOn. Every Ref, GetAtt and
${...} of Fn::Sub that names a placeholdered resource becomes a fixed string,
"placeholder:<LogicalId>" or "placeholder:<LogicalId>.<Attribute>", so nothing on the emulator
waits on or fails over a value moto cannot give (an unresolved GetAtt leaves a moto stack
CREATE_IN_PROGRESS for ever; an unresolved Ref is null)."""
import copy
import json
import pathlib
import re

LISTS = pathlib.Path(__file__).resolve().parent / "unmodelled.json"
PLACEHOLDER_TYPE = "AWS::SSM::Parameter"
PREFIX = "placeholder:"


def lists():
    """(deployed types {type: note}, unmodelled types {type: {reason, checked_by}})."""
    data = json.loads(LISTS.read_text())
    return data["deployed"], data["unmodelled"]


def value(logical_id, attribute=None):
    return f"{PREFIX}{logical_id}" + (f".{attribute}" if attribute else "")


def is_placeholder(text):
    return isinstance(text, str) and text.startswith(PREFIX)


def apply(template, unmodelled_types=None):
    """(template with placeholders, {logical id: original type} of the placeholdered resources)."""
    if unmodelled_types is None:
        unmodelled_types = set(lists()[1])
    template = copy.deepcopy(template)
    replaced = {
        name: r["Type"] for name, r in template["Resources"].items() if r["Type"] in unmodelled_types
    }
    for name, type_ in replaced.items():
        old = template["Resources"][name]
        new = {
            "Type": PLACEHOLDER_TYPE,
            "Metadata": {"EmulatorPlaceholderFor": type_},
            "Properties": {
                "Name": {"Fn::Sub": f"/media-edge-emulator/${{AWS::StackName}}/{name}"},
                "Type": "String",
                "Value": f"{type_} {name}: not modelled by the emulator (infra/emulator/unmodelled.json)",
            },
        }
        for key in ("Condition", "DependsOn"):
            if key in old:
                new[key] = old[key]
        template["Resources"][name] = new
    for section in ("Resources", "Outputs"):
        if section in template:
            template[section] = _rewrite(template[section], replaced)
    return template, replaced


def _rewrite(node, replaced):
    if isinstance(node, list):
        return [_rewrite(n, replaced) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in replaced:
        return value(node["Ref"])
    if set(node) == {"Fn::GetAtt"}:
        target = node["Fn::GetAtt"]
        name, attribute = target.split(".", 1) if isinstance(target, str) else target
        if name in replaced:
            return value(name, attribute)
    if set(node) == {"Fn::Sub"}:
        arg = node["Fn::Sub"]
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = _rewrite(variables, replaced)

        def substitute(match):
            name = match.group(1)
            resource = name.split(".", 1)[0]
            if name.startswith("!") or name in variables or resource not in replaced:
                return match.group(0)
            return value(*name.split(".", 1))

        text = re.sub(r"\$\{([^}]*)\}", substitute, text)
        return {"Fn::Sub": text if isinstance(arg, str) else [text, variables]}
    return {k: _rewrite(v, replaced) for k, v in node.items()}
