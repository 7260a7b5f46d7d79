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
    # documentation gives no limit), the response headers policies (likewise) and the origin access
    # controls ("up to 64 characters").
    return re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name) is not None


# (resource type, property path) → check of the evaluated value
RULES = {
    ("AWS::S3::Bucket", ("BucketName",)): lambda v: not s3_bucket_name_problems(v),
    ("AWS::Glue::Database", ("DatabaseInput", "Name")): athena_name_ok,
    ("AWS::CloudFront::Function", ("Name",)): cloudfront_name_ok,
    ("AWS::CloudFront::CachePolicy", ("CachePolicyConfig", "Name")): cloudfront_name_ok,
    ("AWS::CloudFront::OriginRequestPolicy", ("OriginRequestPolicyConfig", "Name")): cloudfront_name_ok,
    ("AWS::CloudFront::OriginAccessControl", ("OriginAccessControlConfig", "Name")): cloudfront_name_ok,
    ("AWS::CloudFront::ResponseHeadersPolicy", ("ResponseHeadersPolicyConfig", "Name")): cloudfront_name_ok,
    # ResponseHeadersPolicyConfig: "The comment cannot be longer than 128 characters."
    ("AWS::CloudFront::ResponseHeadersPolicy", ("ResponseHeadersPolicyConfig", "Comment")): lambda v: len(v) <= 128,
    # CloudFront: "The comment cannot be longer than 128 characters."
    ("AWS::CloudFront::Distribution", ("DistributionConfig", "Comment")): lambda v: len(v) <= 128,
    ("AWS::CloudFront::Function", ("FunctionConfig", "Comment")): lambda v: len(v) <= 128,
    # AWS::Chatbot::SlackChannelConfiguration ConfigurationName: 1–128 of [A-Za-z0-9-_].
    ("AWS::Chatbot::SlackChannelConfiguration", ("ConfigurationName",)):
        lambda v: re.fullmatch(r"[A-Za-z0-9_-]{1,128}", v) is not None,
    # AWS::Athena::NamedQuery: Name 1–128 characters, Description 1–1024.
    ("AWS::Athena::NamedQuery", ("Name",)): lambda v: 1 <= len(v) <= 128,
    ("AWS::Athena::NamedQuery", ("Description",)): lambda v: 1 <= len(v) <= 1024,
    # AWS::CloudWatch::Dashboard DashboardName: up to 255 of [A-Za-z0-9_-].
    ("AWS::CloudWatch::Dashboard", ("DashboardName",)): lambda v: re.fullmatch(r"[A-Za-z0-9_-]{1,255}", v) is not None,
    # AWS::WAFv2::WebACL Name: 1–128 of [\w-]; VisibilityConfig MetricName: 1–255 of [\w#:.\-/],
    # no whitespace, not "All" or "Default_Action".
    ("AWS::WAFv2::WebACL", ("Name",)): lambda v: re.fullmatch(r"[\w-]{1,128}", v) is not None,
    ("AWS::WAFv2::WebACL", ("VisibilityConfig", "MetricName")):
        lambda v: re.fullmatch(r"[\w#:.\-/]{1,255}", v) is not None and v not in ("All", "Default_Action"),
    # AWS::KMS::Alias AliasName: "alias/" then 1–250 of [a-zA-Z0-9/_-], not "alias/aws/" (AWS's).
    ("AWS::KMS::Alias", ("AliasName",)):
        lambda v: re.fullmatch(r"alias/[a-zA-Z0-9/_-]{1,250}", v) is not None and not v.startswith("alias/aws/"),
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
@pytest.mark.parametrize("prefix", ["", "media-edge-prod"])
def test_uploads_topic_policy_names_the_originals_bucket(stack_name, prefix):
    # The bucket depends on the topic policy (S3 checks it when the notification is configured),
    # so the policy cannot !Ref the bucket: it repeats the name expression, and the two must agree.
    params = cfn.parameters(TEMPLATE, stack_name=stack_name, ExistingBucketNamePrefix=prefix)
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


# ---------------------------------------------------------------- stacks created before ba215f4
# Their resources are named after the stack ("<stack name>-<role>-<account>"). With
# ExistingBucketNamePrefix set to that stack name they keep the names whose change CloudFormation
# cannot carry out: the buckets (a new name is a new, empty bucket; the old one cannot be deleted
# while it holds objects), the Glue database (Glue cannot rename one) and the Chatbot configuration
# (one per Slack channel, and the new one would be created before the old one is deleted).

ROLES = {"OriginalsBucket": "originals", "VariantsBucket": "variants", "ReleasesBucket": "releases", "LogsBucket": "logs"}
FRAGMENT = "1c2fa620"  # first group of cfn.parameters' default stack UUID


def parameter():
    return TEMPLATE["Parameters"]["ExistingBucketNamePrefix"]


def kept_names(params):
    """The names that depend on ExistingBucketNamePrefix, evaluated."""
    resources = TEMPLATE["Resources"]
    names = {
        bucket: cfn.evaluate(resources[bucket]["Properties"]["BucketName"], params) for bucket in ROLES
    }
    (statement,) = cfn.statements(resources["UploadsTopicPolicy"]["Properties"]["PolicyDocument"])
    names["UploadsTopicPolicy"] = cfn.evaluate(statement["Condition"]["ArnEquals"]["aws:SourceArn"], params)
    names["LogsDatabase"] = cfn.evaluate(resources["LogsDatabase"]["Properties"]["DatabaseInput"]["Name"], params)
    names["SlackChannel"] = cfn.evaluate(resources["SlackChannel"]["Properties"]["ConfigurationName"], params)
    return names


def other_names(params):
    """Every other evaluated name (CloudFront, Athena queries, distribution comment)."""
    kept = {"BucketName", "DatabaseInput/Name", "ConfigurationName"}
    return {(r, path): cfn.evaluate(node, params) for r, path, node, _ in named_values() if path not in kept}


def admitted(value):
    """Whether CloudFormation accepts the value for ExistingBucketNamePrefix."""
    p = parameter()
    return len(value) <= int(p["MaxLength"]) and re.fullmatch(p["AllowedPattern"], value) is not None


@pytest.mark.parametrize("stack_name", ["media-edge-prod", "Media-Edge-Production-Stack-With-A-Very-Long-Name-2026"])
def test_without_existing_prefix_names_come_from_the_stack_id(stack_name):
    assert parameter()["Default"] == ""
    params = cfn.parameters(TEMPLATE, stack_name=stack_name)
    names = kept_names(params)
    for bucket, role in ROLES.items():
        assert names[bucket] == f"media-edge-{FRAGMENT}-{role}-123456789012"
    assert names["UploadsTopicPolicy"] == f"arn:aws:s3:::media-edge-{FRAGMENT}-originals-123456789012"
    assert names["LogsDatabase"] == f"media_edge_{FRAGMENT}_cdn_logs"
    assert names["SlackChannel"] == f"media-edge-{FRAGMENT}-slack"


@pytest.mark.parametrize("prefix", ["media-edge-prod", "a", "m" * 40])
def test_existing_prefix_keeps_the_old_names(prefix):
    # The stack name is the prefix (old stacks), or anything else: only the parameter counts.
    for stack_name in [prefix, "renamed-in-samconfig"]:
        params = cfn.parameters(TEMPLATE, stack_name=stack_name, ExistingBucketNamePrefix=prefix)
        names = kept_names(params)
        for bucket, role in ROLES.items():
            assert names[bucket] == f"{prefix}-{role}-123456789012"
            assert not s3_bucket_name_problems(names[bucket]), names[bucket]
        assert names["UploadsTopicPolicy"] == f"arn:aws:s3:::{prefix}-originals-123456789012"
        assert names["LogsDatabase"] == f"{prefix}_cdn_logs"
        assert names["SlackChannel"] == f"{prefix}-slack"


def test_existing_prefix_leaves_the_other_names_alone():
    # CloudFormation can carry out these renames (replace the CloudFront Functions and named
    # queries, update policies, OACs and the comment in place): they stay on the stack id.
    without = other_names(cfn.parameters(TEMPLATE, stack_name="media-edge-prod"))
    with_prefix = other_names(cfn.parameters(TEMPLATE, stack_name="media-edge-prod", ExistingBucketNamePrefix="media-edge-prod"))
    assert with_prefix == without
    assert all(FRAGMENT in value for (_, path), value in with_prefix.items() if path.endswith("Name"))


def test_existing_prefix_is_used_only_through_the_condition():
    # KeepsExistingNames is "the prefix is not empty": an empty prefix never produces "-originals-…".
    params = cfn.parameters(TEMPLATE)
    assert cfn.condition("KeepsExistingNames", params) is False
    params["ExistingBucketNamePrefix"] = "media-edge-prod"
    assert cfn.condition("KeepsExistingNames", params) is True


def test_max_length_keeps_the_longest_bucket_name_within_63():
    # The longest "-<role>-<account>" suffix of any bucket (originals: 23 characters).
    params = cfn.parameters(TEMPLATE, ExistingBucketNamePrefix="x")
    names = kept_names(params)
    longest_suffix = max(len(names[bucket]) - len("x") for bucket in ROLES)
    assert longest_suffix == len("-originals-123456789012")
    # As long as allowed (old stacks of up to 40 characters could exist), and no longer.
    assert int(parameter()["MaxLength"]) == 63 - longest_suffix


@pytest.mark.parametrize("value", [
    "",
    "media-edge",
    "media-edge-prod",
    "a",
    "edge2",
    "a--b",
    "m" * 40,
])
def test_prefix_pattern_admits_old_stack_names(value):
    assert admitted(value)
    if value:
        names = kept_names(cfn.parameters(TEMPLATE, ExistingBucketNamePrefix=value))
        for bucket in ROLES:
            assert not s3_bucket_name_problems(names[bucket]), names[bucket]


@pytest.mark.parametrize("value", [
    "Media-Edge-Prod",      # uppercase
    "media-edge-Prod",
    "m" * 41,               # "<prefix>-originals-<account>" would exceed 63 characters
    "-media-edge",          # leading hyphen
    "media-edge-",          # trailing hyphen (and "…--originals-…")
    "-",
    "1media-edge",          # stack names start with a letter
    "media.edge",           # stack names have no dots
    "media_edge",
    "media edge",
    "media-edge\n",
])
def test_prefix_pattern_rejects(value):
    assert not admitted(value)
