"""Deploys infra/template.yaml as a CloudFormation stack on the emulator and describes it.

deploy(): the SAM transform (translate.py), placeholders for what the emulator cannot model
(placeholders.py), code zips and the template uploaded to the artifact bucket
(media-edge-emulator-artifacts-<region>, under <stack>/), CreateStack from the TemplateURL (the
translated template is over CloudFormation's 51,200-byte TemplateBody limit), a wait for
CREATE_COMPLETE, every event source mapping left disabled (the harness polls), and describe():

{
  "stack": {"name", "id", "region", "endpoint", "status", "parameters": {key: value},
            "template" (the SAM template's path), "template_url", "seconds"},
  "outputs": {OutputKey: OutputValue},
  "resources": {LogicalId: {"type", "physical_id", "placeholder": bool}},
      (a placeholder's type is the template's; its physical_id is the string every Ref to it got)
  "functions": {LogicalId: GetFunctionConfiguration's answer + "Aliases": {name: version},
                "Url": FunctionUrl or absent, "EventInvokeConfig": {...} or absent},
  "event_source_mappings": {LogicalId: GetEventSourceMapping's answer + "EnabledInTemplate"},
  "queues": {LogicalId: {"QueueUrl", "Attributes": GetQueueAttributes(All)}},
  "topics": {LogicalId: {"TopicArn", "Attributes", "Subscriptions": [{"SubscriptionArn",
             "Protocol", "Endpoint", "Attributes"}]}},
  "buckets": {LogicalId: {"Name", "NotificationConfiguration", "Versioning", "LifecycleRules"}},
  "alarms": {LogicalId: DescribeAlarms' AlarmName, Namespace, MetricName, Dimensions, Metrics},
  "placeholders": {type: [LogicalId, ...]}
}

Every name in it is the stack's own (bucket names carry the stack id, the others the stack
name), so stacks deployed side by side by parallel tests do not meet."""
import io
import json
import os
import time
import zipfile

import boto3
from botocore.config import Config

from infra.emulator import placeholders, translate

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


class DeployError(Exception):
    pass


def clients(endpoint, region):
    session = boto3.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN", "testing"),
        region_name=region,
    )
    config = Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"})

    def client(name):
        return session.client(name, endpoint_url=endpoint, config=config)

    return client


def artifact_bucket(region):
    return f"{translate.ARTIFACTS}-{region}"


def placeholder_zip(logical_id):
    """Code for a function whose build was not given: a bootstrap that says so."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, f"#!/bin/sh\necho 'emulator placeholder for {logical_id}: deploy with --artifact' >&2\nexit 1\n")
    return buffer.getvalue()


def prepare(template_path, region, stack, unmodelled_types=None):
    """(CloudFormation template for the emulator, {placeholdered logical id: type},
    {logical id: S3 key of its code})."""
    translated = translate.translate_file(template_path, region)
    emulated, replaced = placeholders.apply(translated, unmodelled_types)
    check_types(emulated)
    code = {}
    for name, location in translate.artifacts(emulated).items():
        location["S3Bucket"] = artifact_bucket(region)
        location["S3Key"] = f"{stack}/{location['S3Key']}"
        code[name] = location["S3Key"]
    return emulated, replaced, code


def check_types(emulated):
    """Refuses a template with a resource type on neither list of unmodelled.json."""
    deployed, _ = placeholders.lists()
    unknown = {r["Type"] for r in emulated["Resources"].values()
               if "EmulatorPlaceholderFor" not in (r.get("Metadata") or {})} - set(deployed)
    if unknown:
        raise DeployError(f"resource types on neither list of {placeholders.LISTS}: {sorted(unknown)}")


def _ensure_bucket(s3, bucket, region):
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def deploy(endpoint, stack, region="us-east-1", parameters=None, template=translate.TEMPLATE, artifacts=None,
           out=None, timeout=120):
    """Creates the stack and returns describe()'s dict (also written to `out` if given).
    artifacts: {SAM logical id (e.g. ImageProcessorFunction, FfmpegLayer): path of its zip}."""
    started = time.monotonic()
    client = clients(endpoint, region)
    s3, cfn = client("s3"), client("cloudformation")
    emulated, replaced, code = prepare(template, region, stack)
    bucket = artifact_bucket(region)
    _ensure_bucket(s3, bucket, region)
    given = {name: path for name, path in (artifacts or {}).items()}
    for name, key in code.items():
        sam_name = key.rsplit("/", 1)[-1][: -len(".zip")]
        path = given.get(sam_name)
        body = open(path, "rb").read() if path else placeholder_zip(sam_name)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    template_key = f"{stack}/template.json"
    s3.put_object(Bucket=bucket, Key=template_key, Body=json.dumps(emulated).encode())
    # moto reads a TemplateURL of this form from its own S3 (path style).
    template_url = f"https://s3.amazonaws.com/{bucket}/{template_key}"
    try:
        cfn.create_stack(
            StackName=stack,
            TemplateURL=template_url,
            Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in (parameters or {}).items()],
            Capabilities=CAPABILITIES,
        )
    except cfn.exceptions.ClientError as e:
        raise DeployError(f"CreateStack {stack}: {e}") from e
    status = _wait(cfn, stack, timeout)
    if status != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
        reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events
                   if "FAILED" in e["ResourceStatus"]]
        raise DeployError(f"stack {stack} is {status}: {reasons}")
    _disable_event_source_mappings(client, stack)
    description = describe(endpoint, stack, region, emulated, replaced)
    description["stack"]["template"] = str(template)
    description["stack"]["template_url"] = template_url
    description["stack"]["seconds"] = round(time.monotonic() - started, 2)
    if out:
        with open(out, "w") as f:
            json.dump(description, f, indent=1, sort_keys=True, default=str)
            f.write("\n")
    return description


def _wait(cfn, stack, timeout):
    deadline = time.monotonic() + timeout
    while True:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def _stack_resources(cfn, stack):
    found = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for r in page["StackResourceSummaries"]:
            if r["LogicalResourceId"]:  # moto lists a resource whose Condition is false without a name
                found[r["LogicalResourceId"]] = r
    return found


def _disable_event_source_mappings(client, stack):
    cfn, lam = client("cloudformation"), client("lambda")
    for r in _stack_resources(cfn, stack).values():
        if r["ResourceType"] == "AWS::Lambda::EventSourceMapping":
            mapping = lam.get_event_source_mapping(UUID=r["PhysicalResourceId"])
            if mapping["State"] != "Disabled":
                lam.update_event_source_mapping(UUID=r["PhysicalResourceId"], Enabled=False)


def _clean(answer):
    answer = dict(answer)
    answer.pop("ResponseMetadata", None)
    return answer


def describe(endpoint, stack, region, emulated, replaced):
    client = clients(endpoint, region)
    cfn, lam, sqs, sns, s3, cw = (client(n) for n in ("cloudformation", "lambda", "sqs", "sns", "s3", "cloudwatch"))
    info = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    out = {
        "stack": {
            "name": stack,
            "id": info["StackId"],
            "region": region,
            "endpoint": endpoint,
            "status": info["StackStatus"],
            "parameters": {p["ParameterKey"]: p["ParameterValue"] for p in info.get("Parameters", [])},
        },
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in info.get("Outputs", [])},
        "resources": {},
        "functions": {},
        "event_source_mappings": {},
        "queues": {},
        "topics": {},
        "buckets": {},
        "alarms": {},
        "placeholders": {},
    }
    for name, r in sorted(_stack_resources(cfn, stack).items()):
        if name in replaced:  # listed only when its Condition holds
            type_ = replaced[name]
            out["resources"][name] = {"type": type_, "physical_id": placeholders.value(name), "placeholder": True}
            out["placeholders"].setdefault(type_, []).append(name)
            continue
        physical, type_ = r["PhysicalResourceId"], r["ResourceType"]
        out["resources"][name] = {"type": type_, "physical_id": physical, "placeholder": False}
        if type_ == "AWS::Lambda::Function":
            out["functions"][name] = _function(lam, physical)
        elif type_ == "AWS::Lambda::EventSourceMapping":
            mapping = _clean(lam.get_event_source_mapping(UUID=physical))
            enabled = emulated["Resources"][name]["Properties"].get("Enabled", True)
            mapping["EnabledInTemplate"] = enabled if isinstance(enabled, bool) else str(enabled).lower() == "true"
            out["event_source_mappings"][name] = mapping
        elif type_ == "AWS::SQS::Queue":
            attributes = sqs.get_queue_attributes(QueueUrl=physical, AttributeNames=["All"])["Attributes"]
            out["queues"][name] = {"QueueUrl": physical, "Attributes": attributes}
        elif type_ == "AWS::SNS::Topic":
            out["topics"][name] = _topic(sns, physical)
        elif type_ == "AWS::S3::Bucket":
            out["buckets"][name] = _bucket(s3, physical)
        elif type_ == "AWS::CloudWatch::Alarm":
            # As DescribeAlarms answers: read through boto3 (the query protocol), since the Rust
            # SDK's CloudWatch speaks CBOR, which the emulator does not.
            alarm = cw.describe_alarms(AlarmNames=[physical])["MetricAlarms"][0]
            out["alarms"][name] = {k: alarm[k] for k in ("AlarmName", "Namespace", "MetricName", "Dimensions", "Metrics")
                                   if k in alarm}
    return out


def _function(lam, name):
    config = _clean(lam.get_function_configuration(FunctionName=name))
    config["Aliases"] = {a["Name"]: a["FunctionVersion"] for a in lam.list_aliases(FunctionName=name)["Aliases"]}
    try:
        config["Url"] = lam.get_function_url_config(FunctionName=name)["FunctionUrl"]
    except lam.exceptions.ResourceNotFoundException:
        pass
    try:
        config["EventInvokeConfig"] = _clean(lam.get_function_event_invoke_config(FunctionName=name))
    except lam.exceptions.ResourceNotFoundException:
        pass
    return config


def _topic(sns, arn):
    subscriptions = []
    for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
        attributes = sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]
        subscriptions.append({k: s[k] for k in ("SubscriptionArn", "Protocol", "Endpoint")} | {"Attributes": attributes})
    return {"TopicArn": arn, "Attributes": sns.get_topic_attributes(TopicArn=arn)["Attributes"],
            "Subscriptions": subscriptions}


def _bucket(s3, name):
    notification = _clean(s3.get_bucket_notification_configuration(Bucket=name))
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    except s3.exceptions.ClientError:
        rules = []
    versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
    return {"Name": name, "NotificationConfiguration": notification, "Versioning": versioning, "LifecycleRules": rules}


def delete(endpoint, stack, region="us-east-1", timeout=60):
    """Empties the stack's buckets (CloudFormation cannot delete a bucket holding objects; a test's
    teardown wants it gone), deletes the stack and its artifacts."""
    client = clients(endpoint, region)
    s3, cfn = client("s3"), client("cloudformation")
    for r in _stack_resources(cfn, stack).values():
        if r["ResourceType"] == "AWS::S3::Bucket":
            _empty(s3, r["PhysicalResourceId"])
    cfn.delete_stack(StackName=stack)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        except cfn.exceptions.ClientError:
            break  # gone
        if not status.endswith("_IN_PROGRESS"):
            break
        time.sleep(0.2)
    bucket = artifact_bucket(region)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{stack}/"):
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=o["Key"])


def _empty(s3, bucket):
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
