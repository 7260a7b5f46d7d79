"""CloudFormation models moto 5.2.5 lacks or drops, for the resources of infra/template.yaml.

register() (the launcher, server.py, calls it before moto serves anything) adds:

- models for AWS::SNS::Subscription (RawMessageDelivery, FilterPolicy, FilterPolicyScope,
  RedrivePolicy), AWS::SNS::TopicPolicy and AWS::SQS::QueuePolicy (set as the Policy attribute:
  readable, not enforced by moto), AWS::S3::BucketPolicy (recorded on the bucket, not applied:
  moto enforces a Deny without its Conditions, so a TLS-only statement would deny every request),
  AWS::Lambda::Alias, AWS::Lambda::Url, AWS::Lambda::EventInvokeConfig, AWS::CloudWatch::Alarm;
- what moto's own models drop: a bucket's NotificationConfiguration (topic, queue and function
  targets with their key filters), LifecycleConfiguration, VersioningConfiguration and
  PublicAccessBlockConfiguration; a function's Layers, Architectures and EphemeralStorage (and
  its environment as strings, as Lambda keeps it); a layer's CompatibleArchitectures; a
  Version's GetAtt Version (and Ref as its ARN); a physical id for a Lambda::Permission;
- SQS event source mappings created disabled (an enabled one makes moto run the function in
  Docker for every message; the test harness polls the queue with the mapping's settings). The
  template's Enabled is kept as `enabled_in_template`;
- the template's Rules and parameter constraints (AllowedValues, AllowedPattern, MinValue,
  MaxValue, MinLength, MaxLength), checked at CreateStack as CloudFormation does;
- Route 53's ChangeResourceRecordSets as Route 53 documents it: the batch is checked whole before
  anything changes (all or nothing); a DELETE must name the record set exactly as it is (name,
  type, set identifier, weight, TTL, values, alias target, health check), else InvalidChangeBatch,
  which makes delete-and-create a conditional change; a CREATE of a set that exists is refused; a
  weighted set cannot sit beside a plain one of the same name and type, nor a CNAME beside another
  type (moto 5.2.5 deletes by set identifier alone, across names and types, and checks none of it);
- IAM's role lookups over a snapshot of the roles: moto's server answers requests on threads, and
  a stack creating its functions iterated the roles while a parallel test's stack added one
  ("RuntimeError: dictionary changed size during iteration", an HTML 500 to CreateStack).

Upstreamable to moto (getmoto/moto), each a small change to the service's models.py: everything
above except the disabled event source mappings and the unapplied bucket policies, which are
choices of this project's tests, not of CloudFormation.
"""
import copy
import json
import re
import threading

from moto.awslambda import models as lambda_models
from moto.awslambda.utils import get_backend as lambda_backend
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.moto_api._internal import mock_random as random
from moto.s3 import models as s3_models
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition

_registered = False


class _Model:
    """What the models below share (mixed in before CloudFormationModel, which moto finds models
    by: its direct subclasses): a physical id, and GetAtt from `attributes`."""

    def __init__(self, physical_id, attributes=None):
        self._physical_id = physical_id
        self.attributes = attributes or {}

    @property
    def physical_resource_id(self):
        return self._physical_id

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr in getattr(cls, "ATTRIBUTES", ())

    def get_cfn_attribute(self, attribute_name):
        if attribute_name in self.attributes:
            return self.attributes[attribute_name]
        raise UnformattedGetAttTemplateException()

    def is_created(self):
        return True

    def delete(self, account_id, region_name):
        pass


def _generated_id(kwargs, suffix=""):
    stack_name = kwargs.get("StackId", "").split("/")[1] if "/" in kwargs.get("StackId", "") else "stack"
    return f"{stack_name}-{kwargs.get('LogicalId', 'resource')}-{random.get_random_hex(12)}{suffix}"


def _policy_text(document):
    return document if isinstance(document, str) else json.dumps(document)


# ---------------------------------------------------------------- SNS, SQS, S3 policies

class SnsSubscription(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type():
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        topic_arn = props["TopicArn"]
        backend = sns_backends[account_id][topic_arn.split(":")[3]]
        with _SNS_SUBSCRIPTIONS:
            return cls(_subscribe(backend, topic_arn, props))

    def delete(self, account_id, region_name):
        backend = sns_backends[account_id][self.physical_resource_id.split(":")[3]]
        with _SNS_SUBSCRIPTIONS:
            backend.unsubscribe(self.physical_resource_id)


# moto's server answers on threads, and its SNS backend's SetSubscriptionAttributes iterates over
# every subscription of the Region: a stack deployed beside another (parallel tests) adding one
# at that moment failed it with "OrderedDict mutated during iteration" (a make test run's 500 on
# CreateStack). Subscriptions made or removed by stacks go one at a time.
_SNS_SUBSCRIPTIONS = threading.RLock()


def _subscribe(backend, topic_arn, props):
    subscription = backend.subscribe(topic_arn, props["Endpoint"], props["Protocol"])
    # The scope first: the filter policy is validated against it.
    for name in ("FilterPolicyScope", "FilterPolicy", "RawMessageDelivery", "RedrivePolicy", "DeliveryPolicy"):
        if name in props:
            value = props[name]
            if name == "RawMessageDelivery":
                # A boolean, as moto's SetSubscriptionAttributes stores it ("false" is truthy).
                value = value if isinstance(value, bool) else str(value).lower() == "true"
            elif isinstance(value, dict):
                value = json.dumps(value)
            backend.set_subscription_attributes(subscription.arn, name, value)
    return subscription.arn


class SnsTopicPolicy(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type():
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        for arn in props["Topics"]:
            sns_backends[account_id][arn.split(":")[3]].set_topic_attribute(
                arn, "policy", _policy_text(props["PolicyDocument"]))
        return cls(_generated_id(kwargs))


class SqsQueuePolicy(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type():
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        backend = sqs_backends[account_id][region_name]
        for url in props["Queues"]:
            backend.set_queue_attributes(url.rstrip("/").rsplit("/", 1)[-1],
                                         {"Policy": _policy_text(props["PolicyDocument"])})
        return cls(_generated_id(kwargs))


class S3BucketPolicy(_Model, CloudFormationModel):
    """Recorded as `recorded_policy` on the bucket, not put: see the module docstring."""

    @staticmethod
    def cloudformation_type():
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        backend = s3_models.s3_backends[account_id][get_partition(region_name)]
        backend.get_bucket(props["Bucket"]).recorded_policy = _policy_text(props["PolicyDocument"])
        return cls(props["Bucket"])


# ---------------------------------------------------------------- S3 bucket properties moto drops

def _notification_config(cfn):
    """CloudFormation's NotificationConfiguration in the shape moto's PutBucketNotification parser
    gives its backend."""
    def target(entry, arn_key, api_key):
        out = {api_key: entry[arn_key], "Event": [entry["Event"]]}
        rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules")
        if rules:
            # S3 takes "prefix"/"Prefix" alike; moto matches the lowercase name.
            out["Filter"] = {"S3Key": {"FilterRule": [{"Name": r["Name"].lower(), "Value": r["Value"]} for r in rules]}}
        return out

    config = {}
    for cfn_key, arn_key, api_key, api_list in (
        ("TopicConfigurations", "Topic", "Topic", "TopicConfiguration"),
        ("QueueConfigurations", "Queue", "Queue", "QueueConfiguration"),
        ("LambdaConfigurations", "Function", "CloudFunction", "CloudFunctionConfiguration"),
    ):
        if cfn.get(cfn_key):
            config[api_list] = [target(e, arn_key, api_key) for e in cfn[cfn_key]]
    if (cfn.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"):
        config["EventBridgeConfiguration"] = {}
    return config


def _lifecycle_rules(cfn):
    """CloudFormation's lifecycle rules as PutBucketLifecycleConfiguration's."""
    rules = []
    for r in cfn.get("Rules", []):
        rule = {"ID": r.get("Id"), "Status": r["Status"]}
        tags = r.get("TagFilters") or []
        prefix = r.get("Prefix")
        if tags and (prefix or len(tags) > 1):
            rule["Filter"] = {"And": {"Prefix": prefix or "", "Tag": tags}}
        elif tags:
            rule["Filter"] = {"Tag": tags[0]}
        else:
            rule["Filter"] = {"Prefix": prefix or ""}
        if "ExpirationInDays" in r:
            rule["Expiration"] = {"Days": r["ExpirationInDays"]}
        if "ExpirationDate" in r:
            rule["Expiration"] = {"Date": r["ExpirationDate"]}
        if "AbortIncompleteMultipartUpload" in r:
            rule["AbortIncompleteMultipartUpload"] = r["AbortIncompleteMultipartUpload"]
        if "NoncurrentVersionExpirationInDays" in r:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": r["NoncurrentVersionExpirationInDays"]}
        rules.append(rule)
    return rules


def _patch_bucket():
    original = s3_models.FakeBucket.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        props = cloudformation_json.get("Properties", {})
        backend = s3_models.s3_backends[account_id][get_partition(region_name)]
        if "PublicAccessBlockConfiguration" in props:
            backend.put_public_access_block(bucket.name, props["PublicAccessBlockConfiguration"])
        if "VersioningConfiguration" in props:
            backend.put_bucket_versioning(bucket.name, props["VersioningConfiguration"]["Status"])
        if "LifecycleConfiguration" in props:
            backend.put_bucket_lifecycle_configuration(bucket.name, _lifecycle_rules(props["LifecycleConfiguration"]))
        if "NotificationConfiguration" in props:
            backend.put_bucket_notification_configuration(
                bucket.name, _notification_config(props["NotificationConfiguration"]))
        return bucket

    s3_models.FakeBucket.create_from_cloudformation_json = classmethod(create)


# ---------------------------------------------------------------- Lambda

def _patch_function():
    original = lambda_models.LambdaFunction.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        fn = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        props = cloudformation_json["Properties"]
        # Lambda's variables are strings; a Ref to a Number parameter arrives here as an int.
        fn.environment_vars = {k: (str(v).lower() if isinstance(v, bool) else str(v))
                               for k, v in fn.environment_vars.items()}
        if "Layers" in props:
            fn.layers = fn._get_layers_data(props["Layers"])
        if "Architectures" in props:
            fn.architectures = props["Architectures"]
        if "EphemeralStorage" in props:
            fn.ephemeral_storage = int(props["EphemeralStorage"]["Size"])
        return fn

    lambda_models.LambdaFunction.create_from_cloudformation_json = classmethod(create)


def _patch_permission():
    original = lambda_models.Permission.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        permission = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        permission.physical_resource_id = f"{cloudformation_json['Properties']['FunctionName']}|{_generated_id(kwargs)}"
        return permission

    lambda_models.Permission.create_from_cloudformation_json = classmethod(create)


def _patch_layer():
    original = lambda_models.LayerVersion.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        layer = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        layer.compatible_architectures = cloudformation_json["Properties"].get("CompatibleArchitectures", [])
        return layer

    lambda_models.LayerVersion.create_from_cloudformation_json = classmethod(create)
    # Ref to a layer version is its ARN.
    lambda_models.LayerVersion.physical_resource_id = property(lambda self: self.arn)


def _patch_version():
    cls_ = lambda_models.LambdaVersion

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        fn = lambda_backend(account_id, region_name).publish_version(props["FunctionName"], props.get("Description", ""))
        version = cls({"Version": fn.version})
        version.arn = fn.function_arn
        return version

    def get_cfn_attribute(self, attribute_name):
        if attribute_name == "Version":
            return str(self.version)
        raise UnformattedGetAttTemplateException()

    cls_.create_from_cloudformation_json = classmethod(create)
    cls_.physical_resource_id = property(lambda self: self.arn)
    cls_.has_cfn_attr = classmethod(lambda cls, attr: attr == "Version")
    cls_.get_cfn_attribute = get_cfn_attribute


def _function_and_qualifier(name_or_arn):
    """("name", "qualifier" or None) of a function name, name:qualifier or (qualified) ARN."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[6], (parts[7] if len(parts) > 7 else None)
    name, _, qualifier = name_or_arn.partition(":")
    return name, qualifier or None


class LambdaAlias(_Model, CloudFormationModel):
    ATTRIBUTES = ("AliasArn",)

    @staticmethod
    def cloudformation_type():
        return "AWS::Lambda::Alias"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        function, _ = _function_and_qualifier(props["FunctionName"])
        alias = lambda_backend(account_id, region_name).create_alias(
            props["Name"], function, str(props["FunctionVersion"]), props.get("Description", ""),
            props.get("RoutingConfig"))
        model = cls(alias.arn, {"AliasArn": alias.arn})
        model.function, model.name = function, props["Name"]
        return model

    def delete(self, account_id, region_name):
        try:
            lambda_backend(account_id, region_name).delete_alias(self.name, self.function)
        except Exception:  # the function went first
            pass


class LambdaUrl(_Model, CloudFormationModel):
    ATTRIBUTES = ("FunctionUrl", "FunctionArn")

    @staticmethod
    def cloudformation_type():
        return "AWS::Lambda::Url"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        function, qualifier = _function_and_qualifier(props["TargetFunctionArn"])
        qualifier = props.get("Qualifier", qualifier)
        # moto keeps one URL per function and does not serve it; the qualifier is recorded.
        config = {k: props[k] for k in ("AuthType", "Cors", "InvokeMode") if k in props}
        url = lambda_backend(account_id, region_name).create_function_url_config(function, config)
        url.config["Qualifier"] = qualifier
        arn = url.function.function_arn + (f":{qualifier}" if qualifier else "")
        return cls(arn, {"FunctionUrl": url.url, "FunctionArn": arn})


class LambdaEventInvokeConfig(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type():
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        config = {k: props[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
                  if k in props}
        lambda_backend(account_id, region_name).put_function_event_invoke_config(props["FunctionName"], config)
        return cls(f"{props['FunctionName']}:{props.get('Qualifier', '$LATEST')}")


def _patch_event_source_mapping():
    cls_ = lambda_models.EventSourceMapping
    original = cls_.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = dict(cloudformation_json["Properties"])
        enabled = props.get("Enabled", True)
        if isinstance(enabled, str):
            enabled = enabled.lower() == "true"
        if ":sqs:" in props.get("EventSourceArn", ""):
            props["Enabled"] = False
        esm = original(cls, resource_name, {**cloudformation_json, "Properties": props}, account_id, region_name,
                       **kwargs)
        esm.enabled_in_template = enabled
        if props["FunctionName"].startswith("arn:"):
            esm.function_arn = props["FunctionName"]  # an alias ARN stays one, as in Lambda
        return esm

    cls_.create_from_cloudformation_json = classmethod(create)


# ---------------------------------------------------------------- CloudWatch alarms

class CloudWatchAlarm(_Model, CloudFormationModel):
    ATTRIBUTES = ("Arn",)

    @staticmethod
    def cloudformation_name_type():
        return "AlarmName"

    @staticmethod
    def cloudformation_type():
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        queries = None
        if props.get("Metrics"):
            queries = []
            for m in props["Metrics"]:
                stat = None
                if m.get("MetricStat"):
                    s = m["MetricStat"]
                    dims = [Dimension(d["Name"], d["Value"]) for d in s["Metric"].get("Dimensions", [])]
                    stat = MetricStat(Metric(s["Metric"]["MetricName"], s["Metric"].get("Namespace"), dims),
                                      s.get("Period"), s.get("Stat"), s.get("Unit"))
                queries.append(MetricDataQuery(m.get("Id"), m.get("Label"), m.get("Period"), m.get("ReturnData"),
                                               m.get("Expression"), stat))
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=resource_name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=props["EvaluationPeriods"],
            period=props.get("Period"),
            threshold=props.get("Threshold"),
            statistic=props.get("Statistic"),
            description=props.get("AlarmDescription"),
            dimensions=props.get("Dimensions", []),
            alarm_actions=props.get("AlarmActions", []),
            metric_data_queries=queries,
            datapoints_to_alarm=props.get("DatapointsToAlarm"),
            extended_statistic=props.get("ExtendedStatistic"),
            ok_actions=props.get("OKActions", []),
            insufficient_data_actions=props.get("InsufficientDataActions", []),
            unit=props.get("Unit"),
            actions_enabled=props.get("ActionsEnabled", True),
            treat_missing_data=props.get("TreatMissingData"),
        )
        model = cls(alarm.name, {"Arn": alarm.alarm_arn})
        model.name = alarm.name
        return model

    def delete(self, account_id, region_name):
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])


# ---------------------------------------------------------------- Rules and parameter constraints

def _rule_value(node, resources_map):
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Fn::Equals":
            a, b = (_rule_value(x, resources_map) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not _rule_value(arg[0], resources_map)
        if fn == "Fn::And":
            return all(_rule_value(x, resources_map) for x in arg)
        if fn == "Fn::Or":
            return any(_rule_value(x, resources_map) for x in arg)
        if fn == "Fn::Contains":
            values, value = (_rule_value(x, resources_map) for x in arg)
            return str(value) in [str(v) for v in values]
    if isinstance(node, list):
        return [_rule_value(x, resources_map) for x in node]
    return parsing.clean_json(node, resources_map)


def check_rules(resources_map):
    """CloudFormation refuses a stack whose Rules' assertions fail (for the Rules it applies)."""
    for name, rule in (resources_map._template.get("Rules") or {}).items():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], resources_map):
            continue
        for assertion in rule.get("Assertions", []):
            if not _rule_value(assertion["Assert"], resources_map):
                raise ValidationError(message=assertion.get("AssertDescription", f"Rule {name} failed"))


def check_parameters(resources_map):
    """AllowedValues, AllowedPattern, Min/MaxValue and Min/MaxLength, as CreateStack checks them."""
    for name, spec in (resources_map._template.get("Parameters") or {}).items():
        value = resources_map.resolved_parameters.get(name)
        if value is None:
            continue
        text = str(value)
        if "AllowedValues" in spec and text not in [str(v) for v in spec["AllowedValues"]]:
            raise ValidationError(message=f"Parameter '{name}' must be one of AllowedValues")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], text):
            raise ValidationError(message=f"Parameter '{name}' must match pattern {spec['AllowedPattern']}")
        if spec.get("Type") == "Number":
            number = float(text)
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise ValidationError(message=f"Parameter '{name}' must be a number not less than {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise ValidationError(message=f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}")
        if "MinLength" in spec and len(text) < int(spec["MinLength"]):
            raise ValidationError(message=f"Parameter '{name}' must contain at least {spec['MinLength']} characters")
        if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
            raise ValidationError(message=f"Parameter '{name}' must contain at most {spec['MaxLength']} characters")


def _patch_resource_map():
    original = parsing.ResourceMap.load

    def load(self):
        original(self)
        check_parameters(self)
        check_rules(self)

    parsing.ResourceMap.load = load


def _patch_iam_roles():
    from moto.iam.models import IAMBackend

    def get_roles(self):
        return list(self.roles.values())

    IAMBackend.get_roles = get_roles


class _SnapshotDict(dict):
    """A dict whose views are copies: iterating one while another request thread adds an entry
    no longer raises (list() of a dict view is one step under the GIL)."""

    def values(self):
        return list(super().values())

    def items(self):
        return list(super().items())

    def keys(self):
        return list(super().keys())


def _patch_sqs_queues():
    """moto's SQS walks every queue (a redrive policy's target, ListQueues, the DLQ's sources)
    while other requests create queues: two stacks created at once by parallel tests made
    CreateStack fail with "dictionary changed size during iteration" (moto 5.2.5)."""
    from moto.sqs.models import SQSBackend

    init = SQSBackend.__init__

    def __init__(self, region_name, account_id):
        init(self, region_name, account_id)
        self.queues = _SnapshotDict(self.queues)

    SQSBackend.__init__ = __init__


# ---------------------------------------------------------------- Route 53 change batches

def _dotted(name):
    name = (name or "").lower()
    return name if name.endswith(".") else name + "."


def _number(value):
    return None if value is None else int(value)


def _alias(alias):
    if not alias:
        return None
    return (_dotted(alias.get("DNSName")), alias.get("HostedZoneId"),
            str(alias.get("EvaluateTargetHealth", False)).lower() == "true")


def _record_values(records):
    return sorted(r["Value"] if isinstance(r, dict) else r for r in (records or []))


def _stored(rrset):
    """A stored RecordSet as the fields a DELETE must match."""
    return (_dotted(rrset.name), rrset.type, rrset.set_identifier, _number(rrset.weight), _number(rrset.ttl),
            _record_values(rrset.records), _alias(rrset.alias_target), rrset.health_check_id)


def _requested(rr):
    return (_dotted(rr["Name"]), rr["Type"], rr.get("SetIdentifier"), _number(rr.get("Weight")),
            _number(rr.get("TTL")), _record_values(rr.get("ResourceRecords")), _alias(rr.get("AliasTarget")),
            rr.get("HealthCheckId"))


def _patch_route53_changes():
    from moto.route53.exceptions import Route53ClientError
    from moto.route53.models import RecordSet, Route53Backend

    class InvalidChangeBatch(Route53ClientError):
        def __init__(self, message):
            super().__init__("InvalidChangeBatch", message)

    def change_resource_record_sets(self, zoneid, change_list):
        zone = self.get_hosted_zone(zoneid)
        # The zone as it will be, checked whole before anything changes.
        after = [(_stored(r), r) for r in zone.rrsets]
        for value in change_list:
            action, rr = value["Action"], value["ResourceRecordSet"]
            wanted = _requested(rr)
            where = f"[name='{wanted[0]}', type='{wanted[1]}'" + (f", set-identifier='{wanted[2]}'" if wanted[2] else "") + "]"
            if not wanted[0].rstrip(".").endswith(zone.name.lower().rstrip(".")):
                raise InvalidChangeBatch(f"RRSet with DNS name {wanted[0]} is not permitted in zone {zone.name}")
            same = [i for i, (fields, _) in enumerate(after) if fields[:3] == wanted[:3]]
            if action == "DELETE":
                if not same:
                    raise InvalidChangeBatch(f"Tried to delete resource record set {where} but it was not found")
                if after[same[0]][0] != wanted:
                    raise InvalidChangeBatch(
                        f"Tried to delete resource record set {where} but the values provided do not match the current values")
                after.pop(same[0])
            elif action in ("CREATE", "UPSERT"):
                if same and action == "CREATE":
                    raise InvalidChangeBatch(f"Tried to create resource record set {where} but it already exists")
                for i in reversed(same):
                    after.pop(i)
                after.append((wanted, value))
            else:
                raise InvalidChangeBatch(f"Unknown action {action}")
        names = {}
        for fields, _ in after:
            names.setdefault(fields[0], []).append(fields)
        for name, sets in names.items():
            types = {f[1] for f in sets}
            if "CNAME" in types and len(types) > 1:
                raise InvalidChangeBatch(f"RRSet of type CNAME with DNS name {name} is not permitted because a conflicting RRSet of another type with the same DNS name already exists")
            for t in types:
                of_type = [f for f in sets if f[1] == t]
                if len(of_type) > 1 and any(f[2] is None for f in of_type):
                    raise InvalidChangeBatch(f"RRSet of type {t} with DNS name {name} is not permitted because a conflicting RRSet of type {t} with the same DNS name already exists")
        kept = []
        for fields, item in after:
            if isinstance(item, RecordSet):
                kept.append(item)
                continue
            rr = dict(item["ResourceRecordSet"])
            rr["Name"] = _dotted(rr["Name"])
            if rr.get("ResourceRecords"):
                rr["ResourceRecords"] = [r["Value"] for r in rr["ResourceRecords"]]
            kept.append(RecordSet(rr))
        zone.rrsets = kept
        for value in change_list:
            zone.rr_changes.append(copy.deepcopy(value))

    Route53Backend.change_resource_record_sets = change_resource_record_sets


# ---------------------------------------------------------------- registration

def register():
    """Adds the models above to moto's CloudFormation (idempotent)."""
    global _registered
    if _registered:
        return
    _registered = True
    _patch_bucket()
    _patch_function()
    _patch_permission()
    _patch_layer()
    _patch_version()
    _patch_event_source_mapping()
    _patch_resource_map()
    _patch_iam_roles()
    _patch_sqs_queues()
    _patch_route53_changes()
    # moto finds models as CloudFormationModel.__subclasses__(), cached: the classes above are
    # defined by now, so a fresh look finds them.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    missing = {SnsSubscription, SnsTopicPolicy, SqsQueuePolicy, S3BucketPolicy, LambdaAlias, LambdaUrl,
               LambdaEventInvokeConfig, CloudWatchAlarm} - set(parsing.get_model_list())
    assert not missing, missing
