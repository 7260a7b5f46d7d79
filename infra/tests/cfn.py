"""Helpers for the template tests (infra/tests): infra/template.yaml loaded the way CloudFormation
reads it, the SAM transform run offline over it, and a small evaluator for the intrinsic functions
that build names (Ref, Sub, Select, Split, Join, If and the template's conditions) over made-up
pseudo parameters."""
import copy
import functools
import os
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra/template.yaml"


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags, turned into the long JSON forms CloudFormation uses:
    `!Ref X` → {"Ref": "X"}, `!GetAtt A.B` → {"Fn::GetAtt": ["A", "B"]}, `!Sub s` → {"Fn::Sub": s}.
    A tag applies to the one node it is written on: in `[!Ref A, B]` B stays a plain string."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def load(path=TEMPLATE):
    return yaml.load(pathlib.Path(path).read_text(), Loader=CfnLoader)


@functools.lru_cache(maxsize=None)
def _rendered():
    return load()


def rendered():
    """The rendered template (a fresh copy: tests may change it)."""
    return copy.deepcopy(_rendered())


class _PolicyLoader:
    """SAM asks IAM for the ARNs of the AWS-managed policies a template names; offline we answer
    for the few that can appear."""

    def load(self):
        return {
            name: f"arn:aws:iam::aws:policy/service-role/{name}"
            for name in ["AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole", "AWSLambdaRole"]
        }


def transform(template):
    """The SAM transform (aws-sam-translator, what CloudFormation runs for
    `Transform: AWS::Serverless-2016-10-31`), offline. Local CodeUri/ContentUri are replaced by S3
    URIs first, as `sam package` would."""
    from samtranslator.translator.transform import transform as sam_transform

    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if "CodeUri" in props:
            props["CodeUri"] = "s3://media-edge-artifacts/code.zip"
        if "ContentUri" in props:
            props["ContentUri"] = "s3://media-edge-artifacts/layer.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return sam_transform(template, {}, _PolicyLoader())


@functools.lru_cache(maxsize=None)
def _transformed():
    return transform(_rendered())


def transformed():
    """The rendered template after the SAM transform (a fresh copy)."""
    return copy.deepcopy(_transformed())


def resources_of(template, type_):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == type_}

def gradually_deployed_functions(template):
    """The functions that deploy through CodeDeploy (with a DeploymentPreference), by logical id."""
    return {
        name: r for name, r in resources_of(template, "AWS::Serverless::Function").items()
        if "DeploymentPreference" in r["Properties"]
    }



# ---------------------------------------------------------------- CloudFront cache behaviours

def pattern_matches(pattern, path):
    """Whether a cache behaviour's PathPattern matches a request path. CloudFront's rule (Amazon
    CloudFront Developer Guide, "Cache behavior settings" → "Path pattern",
    https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html#DownloadDistValuesPathPattern,
    and the API reference for CacheBehavior.PathPattern): `*` matches 0 or more characters (`/`
    included), `?` exactly one; patterns are case-sensitive; a pattern behaves the same with or
    without its leading `/`."""
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, path, flags=re.DOTALL) is not None


def behaviour_for(distribution_config, path):
    """The cache behaviour CloudFront applies to a request path: the request path is compared with
    the path patterns in the order the cache behaviours are listed and the first match wins; the
    default behaviour (`*`) is always last. CloudFront picks it before any viewer-request function
    runs, so a function that rewrites the URI does not change it."""
    for behaviour in distribution_config.get("CacheBehaviors", []):
        if pattern_matches(behaviour["PathPattern"], path):
            return behaviour
    return distribution_config["DefaultCacheBehavior"]


def function_associations(behaviour):
    """{(event type, logical id of the CloudFront Function)} of a cache behaviour."""
    return {(a["EventType"], ref_name(a["FunctionARN"])) for a in behaviour.get("FunctionAssociations", [])}


def ref_name(value):
    """"X" for {"Ref": "X"} or {"Fn::GetAtt": ["X", ...]}; None for anything else."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return value["Ref"]
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        return value["Fn::GetAtt"][0]
    return None


def statements(policy_document):
    s = policy_document["Statement"]
    return s if isinstance(s, list) else [s]


def as_list(value):
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- evaluating name expressions

class Unresolved(Exception):
    pass


class Values(dict):
    """Parameter and pseudo-parameter values, with the template's Conditions for Fn::If."""

    def __init__(self, values, conditions=None):
        super().__init__(values)
        self.conditions = conditions or {}


def condition(name, params):
    """The value of one of the template's conditions (Equals, Not, And, Or, Condition)."""
    conditions = getattr(params, "conditions", {})
    if name not in conditions:
        raise Unresolved({"Condition": name})
    return _condition(conditions[name], params)


def _condition(node, params):
    (fn, arg), = node.items()
    if fn == "Condition":
        return condition(arg, params)
    if fn == "Fn::Equals":
        left, right = (evaluate(a, params) for a in arg)
        return left == right
    if fn == "Fn::Not":
        return not _condition(arg[0], params)
    if fn == "Fn::And":
        return all(_condition(a, params) for a in arg)
    if fn == "Fn::Or":
        return any(_condition(a, params) for a in arg)
    raise Unresolved(node)


def evaluate(node, params):
    """Evaluates Ref/Sub/Select/Split/Join/If over `params` (parameter and pseudo-parameter values,
    as cfn.parameters gives them). Anything else (GetAtt, a Ref to a resource) raises Unresolved."""
    if isinstance(node, (str, int, float)):
        return str(node)
    if isinstance(node, list):
        return [evaluate(n, params) for n in node]
    if not isinstance(node, dict) or len(node) != 1:
        raise Unresolved(node)
    (fn, arg), = node.items()
    if fn == "Ref":
        if arg not in params:
            raise Unresolved(node)
        return params[arg]
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        scope = dict(params)
        scope.update({k: evaluate(v, params) for k, v in variables.items()})

        def substitute(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name not in scope:
                raise Unresolved(name)
            return scope[name]

        return re.sub(r"\$\{([^}]*)\}", substitute, text)
    if fn == "Fn::Select":
        index, values = arg
        return evaluate(values, params)[int(evaluate(index, params))]
    if fn == "Fn::Split":
        sep, value = arg
        return evaluate(value, params).split(sep)
    if fn == "Fn::Join":
        sep, values = arg
        return sep.join(evaluate(values, params))
    if fn == "Fn::If":
        name, if_true, if_false = arg
        return evaluate(if_true if condition(name, params) else if_false, params)
    raise Unresolved(node)


def parameters(template, **overrides):
    """Parameter defaults plus pseudo parameters for a made-up stack and account."""
    stack_name = overrides.pop("stack_name", "media-edge")
    stack_uuid = overrides.pop("stack_uuid", "1c2fa620-982a-11e3-aff7-50e2416294e0")
    values = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    values.update({
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:aws:cloudformation:eu-west-1:123456789012:stack/{stack_name}/{stack_uuid}",
        "AWS::AccountId": "123456789012",
        "AWS::Region": "eu-west-1",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    })
    values.update(overrides)
    return Values(values, template.get("Conditions"))


def resolve_conditions(node, params):
    """`node` as CloudFormation deploys it for `params`: every Fn::If replaced by its chosen branch
    and every Ref to AWS::NoValue dropped (from a list or as a property)."""
    no_value = object()

    def walk(n):
        if isinstance(n, dict):
            if set(n) == {"Fn::If"}:
                name, if_true, if_false = n["Fn::If"]
                return walk(if_true if condition(name, params) else if_false)
            if n == {"Ref": "AWS::NoValue"}:
                return no_value
            out = {k: walk(v) for k, v in n.items()}
            return {k: v for k, v in out.items() if v is not no_value}
        if isinstance(n, list):
            return [v for v in (walk(x) for x in n) if v is not no_value]
        return n

    return walk(node)


def _rule_value(node, values):
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Fn::Contains":
            haystack, needle = arg
            return _rule_value(needle, values) in [_rule_value(h, values) for h in haystack]
        if fn == "Fn::Equals":
            return _rule_value(arg[0], values) == _rule_value(arg[1], values)
        if fn == "Fn::Not":
            return not _rule_value(arg[0], values)
        if fn == "Fn::And":
            return all(_rule_value(a, values) for a in arg)
        if fn == "Fn::Or":
            return any(_rule_value(a, values) for a in arg)
    return evaluate(node, values)


def rule_refusals(template, params):
    """The AssertDescriptions of the template's Rules that refuse these parameter values (as
    CloudFormation checks Rules at CreateStack, before any resource)."""
    out = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], params):
            continue
        out += [a["AssertDescription"] for a in rule["Assertions"] if not _rule_value(a["Assert"], params)]
    return out


def distribution_config(template, **parameters_):
    """The distribution's config as deployed with the given parameter values (defaults otherwise)."""
    return deployed_distribution_config(template, parameters(template, **parameters_))


def deployed_distribution_config(template, params):
    """The distribution's config for `params` (cfn.parameters): conditions resolved, and path
    patterns taken from a parameter (the legacy paths: !Select of LegacyPathPatterns) evaluated."""
    config = resolve_conditions(template["Resources"]["Distribution"]["Properties"]["DistributionConfig"], params)
    for behaviour in config.get("CacheBehaviors", []):
        behaviour["PathPattern"] = evaluate(behaviour["PathPattern"], params)
    return config


# ---------------------------------------------------------------- permissions (transformed template)

def function_role(transformed_template, function_name):
    """The logical id of the IAM role a function runs with, after the SAM transform."""
    role = transformed_template["Resources"][function_name]["Properties"]["Role"]
    name = ref_name(role)
    assert name and transformed_template["Resources"][name]["Type"] == "AWS::IAM::Role", role
    return name


def role_permissions(transformed_template, role_name):
    """(statements, managed policy ARNs) of a role: its inline policies, and the AWS::IAM::Policy and
    AWS::IAM::ManagedPolicy resources of the template attached to it."""
    resources = transformed_template["Resources"]
    role = resources[role_name]["Properties"]
    found = [s for p in role.get("Policies", []) for s in statements(p["PolicyDocument"])]
    managed = []
    for arn in role.get("ManagedPolicyArns", []):
        name = ref_name(arn)
        if name and resources[name]["Type"] == "AWS::IAM::ManagedPolicy":
            found += statements(resources[name]["Properties"]["PolicyDocument"])
        else:
            managed.append(arn)
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = [ref_name(r) for r in resource["Properties"].get("Roles", [])]
            if role_name in roles:
                found += statements(resource["Properties"]["PolicyDocument"])
    return found, managed


def allowed(statement_list, action):
    """The Resource entries of the Allow statements that grant `action` (exactly or by a wildcard)."""
    out = []
    for s in statement_list:
        if s.get("Effect") != "Allow":
            continue
        for granted in as_list(s.get("Action", [])):
            if re.fullmatch(re.escape(granted).replace(r"\*", ".*"), action, flags=re.IGNORECASE):
                out.append((s.get("Resource"), s.get("Condition")))
                break
    return out


if __name__ == "__main__":
    # `python infra/tests/cfn.py --transformed`: the SAM-transformed template as JSON on stdout
    # (scripts/checkov.sh scans it).
    import json
    import logging
    import sys

    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its feature-toggle notices
    if sys.argv[1:] != ["--transformed"]:
        sys.exit("usage: cfn.py --transformed")
    json.dump(transformed(), sys.stdout, indent=1, default=str)
    print()
