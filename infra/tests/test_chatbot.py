"""The Slack channel only delivers notifications: its role and its guardrails allow no more than
AWS's "Notification permissions" channel-role template (cloudwatch:Describe*, Get*, List*; see
https://docs.aws.amazon.com/chatbot/latest/adminguide/understanding-permissions.html and
chatbot-iam-policies.html). Guardrails default to AdministratorAccess when unset
(AWS::Chatbot::SlackChannelConfiguration GuardrailPolicies); what channel members can do is the
intersection of role and guardrails."""
import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]
NOTIFICATIONS_ONLY = {"cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"}


def granted_by(policy_name):
    policy = RESOURCES[policy_name]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy", policy_name
    actions = set()
    for s in cfn.statements(policy["Properties"]["PolicyDocument"]):
        assert s["Effect"] == "Allow"
        actions |= set(cfn.as_list(s["Action"]))
    return actions


def test_channel_role_has_notification_permissions_only():
    role = RESOURCES["ChatbotRole"]["Properties"]
    assert "Policies" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "chatbot.amazonaws.com"}
    for arn in role["ManagedPolicyArns"]:
        name = cfn.ref_name(arn)
        assert name, f"AWS-managed policy on the channel role: {arn!r}"
        assert granted_by(name) == NOTIFICATIONS_ONLY


def test_channel_guardrails_are_set_and_minimal():
    channel = RESOURCES["SlackChannel"]["Properties"]
    guardrails = channel.get("GuardrailPolicies")
    assert guardrails, "unset guardrails mean AdministratorAccess"
    for arn in guardrails:
        name = cfn.ref_name(arn)
        assert name, f"AWS-managed guardrail: {arn!r}"
        assert granted_by(name) == NOTIFICATIONS_ONLY


def test_nothing_reads_logs():
    text = str(RESOURCES["ChatbotRole"]) + str(RESOURCES["SlackChannel"])
    assert "CloudWatchReadOnlyAccess" not in text and "ReadOnlyAccess" not in text
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and resource.get("Condition") == "HasSlack":
            assert not any(a.startswith("logs:") for a in granted_by(name)), name
