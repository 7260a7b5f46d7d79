"""Names the template gives resources must be valid for any valid stack name (1–128 characters,
letters, digits and hyphens, starting with a letter: uppercase allowed). Each name expression is
evaluated for a few stack names and made-up stack ids, then checked against the service's rules."""
import re
import uuid

import pytest

import cfn

TEMPLATE = cfn.rendered()
STACK_NAMES = [
    "a",
    "media-edge",
    "Media-Edge-Production-Stack-With-A-Very-Long-Name-2026",
    "A" + "b-" * 62 + "c",  # 128 characters, the longest stack name
]
STACK_UUIDS = ["1c2fa620-982a-11e3-aff7-50e2416294e0", str(uuid.UUID(int=2**128 - 1)), str(uuid.uuid4())]


def s3_bucket_name_problems(name):
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    problems = []
    if not 3 <= len(name) <= 63:
        problems.append(f"{len(name)} characters")
    if not re.fullmatch(r"[a-z0-9.-]+", name):
        problems.append("only lowercase letters, digits, dots and hyphens")
    if not re.match(r"[a-z0-9]", name) or not re.search(r"[a-z0-9]$", name):
        problems.append("must begin and end with a letter or digit")
    if ".." in name or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        problems.append("adjacent dots or an IP address")
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
    ):
        problems.append("reserved prefix or suffix")
    return problems


def athena_name_ok(name):
    # Athena: database names may contain only lowercase letters, numbers and the underscore
    # (https://docs.aws.amazon.com/athena/latest/ug/tables-databases-columns-names.html); Glue
    # allows 255 characters.
    return re.fullmatch(r"[a-z0-9_]{1,255}", name) is not None


def cloudfront_name_ok(name):
    # CloudFront Function names: 1–64 of [a-zA-Z0-9-_] (AWS::CloudFront::Function Name, and
    # CloudFront quotas). Held to the same for the cache and origin request policies (whose
    # documentation gives no limit) and the origin access controls ("up to 64 characters").
    return re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name) is not None


# (resource type, property path) → check of the evaluated value
RULES = {
    ("AWS::S3::Bucket", ("BucketName",)): lambda v: not s3_bucket_name_problems(v),
    ("AWS::Glue::Database", ("DatabaseInput", "Name")): athena_name_ok,
    ("AWS::CloudFront::Function", ("Name",)): cloudfront_name_ok,
    ("AWS::CloudFront::CachePolicy", ("CachePolicyConfig", "Name")): cloudfront_name_ok,
    ("AWS::CloudFront::OriginRequestPolicy", ("OriginRequestPolicyConfig", "Name")): cloudfront_name_ok,
    ("AWS::CloudFront::OriginAccessControl", ("OriginAccessControlConfig", "Name")): cloudfront_name_ok,
    # CloudFront: "The comment cannot be longer than 128 characters."
    ("AWS::CloudFront::Distribution", ("DistributionConfig", "Comment")): lambda v: len(v) <= 128,
    ("AWS::CloudFront::Function", ("FunctionConfig", "Comment")): lambda v: len(v) <= 128,
    # AWS::Chatbot::SlackChannelConfiguration ConfigurationName: 1–128 of [A-Za-z0-9-_].
    ("AWS::Chatbot::SlackChannelConfiguration", ("ConfigurationName",)):
        lambda v: re.fullmatch(r"[A-Za-z0-9_-]{1,128}", v) is not None,
    # AWS::Athena::NamedQuery: Name 1–128 characters, Description 1–1024.
    ("AWS::Athena::NamedQuery", ("Name",)): lambda v: 1 <= len(v) <= 128,
    ("AWS::Athena::NamedQuery", ("Description",)): lambda v: 1 <= len(v) <= 1024,
}


def named_values():
    for name, resource in TEMPLATE["Resources"].items():
        for (type_, path), check in RULES.items():
            if resource["Type"] != type_:
                continue
            node = resource["Properties"]
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                yield name, "/".join(path), node, check


def test_every_named_resource_type_is_covered():
    found = {(TEMPLATE["Resources"][n]["Type"], p) for n, p, _, _ in named_values()}
    for type_, path in RULES:
        assert any(t == type_ for t, _ in found), f"no {type_} in the template: stale rule?"
    for bucket in cfn.resources_of(TEMPLATE, "AWS::S3::Bucket").values():
        assert "BucketName" in bucket["Properties"]


@pytest.mark.parametrize("stack_name", STACK_NAMES)
@pytest.mark.parametrize("stack_uuid", STACK_UUIDS)
def test_names_are_valid_for_any_stack_name(stack_name, stack_uuid):
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", stack_name)
    params = cfn.parameters(TEMPLATE, stack_name=stack_name, stack_uuid=stack_uuid)
    for resource, path, node, check in named_values():
        value = cfn.evaluate(node, params)
        assert check(value), f"{resource} {path} = {value!r} for stack {stack_name!r}"


@pytest.mark.parametrize("stack_name", STACK_NAMES)
def test_bucket_names_differ_per_stack_and_per_bucket(stack_name):
    names = set()
    for stack_uuid in STACK_UUIDS:
        params = cfn.parameters(TEMPLATE, stack_name=stack_name, stack_uuid=stack_uuid)
        for bucket in cfn.resources_of(TEMPLATE, "AWS::S3::Bucket").values():
            names.add(cfn.evaluate(bucket["Properties"]["BucketName"], params))
    assert len(names) == len(STACK_UUIDS) * len(cfn.resources_of(TEMPLATE, "AWS::S3::Bucket"))


@pytest.mark.parametrize("stack_name", STACK_NAMES)
def test_uploads_topic_policy_names_the_originals_bucket(stack_name):
    # The bucket depends on the topic policy (S3 checks it when the notification is configured),
    # so the policy cannot !Ref the bucket: it repeats the name expression, and the two must agree.
    params = cfn.parameters(TEMPLATE, stack_name=stack_name)
    bucket = cfn.evaluate(TEMPLATE["Resources"]["OriginalsBucket"]["Properties"]["BucketName"], params)
    policy = TEMPLATE["Resources"]["UploadsTopicPolicy"]["Properties"]["PolicyDocument"]
    (statement,) = cfn.statements(policy)
    source = cfn.evaluate(statement["Condition"]["ArnEquals"]["aws:SourceArn"], params)
    assert source == f"arn:aws:s3:::{bucket}"


def test_evaluator():
    params = cfn.parameters(TEMPLATE, stack_name="x", stack_uuid="abcdef01-2345-6789-abcd-ef0123456789")
    fragment = {"Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]}
    assert cfn.evaluate(fragment, params) == "abcdef01"
    assert cfn.evaluate({"Fn::Sub": ["a-${Id}-${AWS::AccountId}-${!Literal}", {"Id": fragment}]}, params) == "a-abcdef01-123456789012-${Literal}"
