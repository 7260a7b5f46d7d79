"""Encryption at rest of the topics and queues, and that everything that publishes to an encrypted
topic may use its key.

Topics: a customer managed key (TopicsKey). S3 event notifications and CloudWatch alarms publish to
an encrypted topic only if the key policy lets their service principal use the key, which the
AWS-managed key (alias/aws/sns) does not allow ("Enable compatibility between event sources from AWS
services and encrypted topics", https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html;
"AWS KMS key policy", https://docs.aws.amazon.com/AmazonS3/latest/userguide/grant-destinations-permissions-to-s3.html).
A publishing principal needs kms:GenerateDataKey* and kms:Decrypt on the key (same SNS page, "Allow a
user to send messages to a topic with SSE"). Subscribers need nothing: SNS decrypts before delivery.

Queues: SSE-SQS (SqsManagedSseEnabled), no key to grant."""
import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
RESOURCES = TEMPLATE["Resources"]
KEY_ARN = {"Fn::GetAtt": ["TopicsKey", "Arn"]}
PUBLISH_WITH_KEY = {"kms:GenerateDataKey*", "kms:Decrypt"}


def key_statements():
    return cfn.statements(RESOURCES["TopicsKey"]["Properties"]["KeyPolicy"])


def service_grants():
    """{service principal: statement} of the key policy."""
    out = {}
    for s in key_statements():
        service = s["Principal"].get("Service") if isinstance(s["Principal"], dict) else None
        if service:
            out[service] = s
    return out


def test_every_topic_is_encrypted_with_the_customer_managed_key():
    topics = cfn.resources_of(TEMPLATE, "AWS::SNS::Topic")
    assert set(topics) == {"UploadsTopic", "StatusTopic", "ChatbotTopic"}
    for name, topic in topics.items():
        assert topic["Properties"]["KmsMasterKeyId"] == KEY_ARN, name


def test_key_is_rotated_and_administered_through_iam():
    key = RESOURCES["TopicsKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    root = [s for s in key_statements() if isinstance(s["Principal"], dict) and "AWS" in s["Principal"]]
    assert len(root) == 1
    assert root[0]["Principal"]["AWS"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    for s in key_statements():
        assert s["Principal"] != "*" and s["Principal"] != {"AWS": "*"}, s
        assert s["Effect"] == "Allow"


def test_key_policy_lets_the_service_publishers_encrypt_only():
    grants = service_grants()
    assert set(grants) == {"s3.amazonaws.com", "cloudwatch.amazonaws.com"}
    for service, s in grants.items():
        assert set(cfn.as_list(s["Action"])) == PUBLISH_WITH_KEY, service
        assert s["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}, service


def test_s3_publishes_to_its_topic_under_the_key():
    # The originals bucket notifies the uploads topic; the topic policy admits S3.
    configs = RESOURCES["OriginalsBucket"]["Properties"]["NotificationConfiguration"]["TopicConfigurations"]
    assert {cfn.ref_name(c["Topic"]) for c in configs} == {"UploadsTopic"}
    (statement,) = cfn.statements(RESOURCES["UploadsTopicPolicy"]["Properties"]["PolicyDocument"])
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert "s3.amazonaws.com" in service_grants()


def test_every_alarm_publishes_to_a_topic_cloudwatch_may_encrypt_for():
    for name, alarm in cfn.resources_of(TEMPLATE, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        for action in props.get("AlarmActions", []) + props.get("OKActions", []):
            topic = cfn.ref_name(action)
            assert RESOURCES[topic]["Properties"]["KmsMasterKeyId"] == KEY_ARN, name
    assert "cloudwatch.amazonaws.com" in service_grants()
    statements = cfn.statements(RESOURCES["ChatbotTopicPolicy"]["Properties"]["PolicyDocument"])
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in statements)


def test_every_role_that_publishes_to_a_topic_may_use_its_key():
    publishers = {}
    for role in cfn.resources_of(TRANSFORMED, "AWS::IAM::Role"):
        statements, _ = cfn.role_permissions(TRANSFORMED, role)
        topics = {cfn.ref_name(r) for resource, _ in cfn.allowed(statements, "sns:Publish") for r in cfn.as_list(resource)}
        if not topics:
            continue
        publishers[role] = topics
        for action in PUBLISH_WITH_KEY:
            grants = cfn.allowed(statements, action.replace("*", ""))
            assert grants, f"{role} publishes to {topics} without {action}"
            for resource, condition in grants:
                assert cfn.as_list(resource) == [KEY_ARN], f"{role}: {action} on {resource!r}"
    assert publishers == {
        "ImageProcessorRole": {"StatusTopic"},
        "NotifierRole": {"ChatbotTopic"},
        "ReleaseControllerRole": {"StatusTopic"},
    }


def test_every_queue_is_encrypted_with_sse_sqs():
    queues = cfn.resources_of(TEMPLATE, "AWS::SQS::Queue")
    assert set(queues) == {"JobsQueue", "JobsDeadLetterQueue", "NotifierQueue", "NotifierDeadLetterQueue"}
    for name, queue in queues.items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, name
        assert "KmsMasterKeyId" not in queue["Properties"], name
