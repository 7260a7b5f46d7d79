"""The release controller as deployed: its schedule, and a role that can change channel configs
(and, with HostedZoneId and RecordName, migration states) and nothing else in the releases bucket
(never a published file or a publish record)."""
import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]
FUNCTION = RESOURCES["ReleaseControllerFunction"]["Properties"]


def statements(**parameters):
    """The role's statements as deployed with these parameter values (defaults otherwise)."""
    role = RESOURCES[cfn.ref_name(FUNCTION["Role"])]["Properties"]
    found = [s for p in role["Policies"] for s in cfn.statements(p["PolicyDocument"])]
    return cfn.resolve_conditions(found, cfn.parameters(TEMPLATE, **parameters))


def test_runs_every_minute_one_at_a_time():
    (event,) = FUNCTION["Events"].values()
    assert event == {"Type": "Schedule", "Properties": {
        "Schedule": "rate(1 minute)", "Description": event["Properties"]["Description"]}}
    # On time, runs never overlap (each ends within its timeout, and a failed one is not retried);
    # a late one may, which the conditional writes make safe. The reservation is optional (a fresh
    # account cannot reserve any: test_concurrency).
    assert int(FUNCTION["Timeout"]) <= 60
    assert FUNCTION["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert FUNCTION["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservesScheduledConcurrency", 1, {"Ref": "AWS::NoValue"}]}


def test_writes_only_channel_configs_and_migration_states():
    writes = [s for s in statements() if "s3:PutObject" in cfn.as_list(s["Action"])]
    assert [s["Resource"] for s in writes] == [{"Fn::Sub": "${ReleasesBucket.Arn}/channels/*"}]
    migrating = statements(HostedZoneId="Z0123456789ABCDEFGHIJ", RecordName="www.example.com")
    writes = [s for s in migrating if "s3:PutObject" in cfn.as_list(s["Action"])]
    assert [s["Resource"] for s in writes] == [{"Fn::Sub": "${ReleasesBucket.Arn}/channels/*"},
                                               {"Fn::Sub": "${ReleasesBucket.Arn}/migrations/*"}]
    for s in statements() + migrating:
        assert not any(a in ("s3:*", "s3:DeleteObject", "*") for a in cfn.as_list(s["Action"])), s


def test_edge_store_and_invalidation_are_scoped_to_this_stack():
    by_sid = {s["Sid"]: s for s in statements()}
    assert by_sid["RouteAtTheEdge"]["Resource"] == {"Fn::GetAtt": ["ReleaseStore", "Arn"]}
    assert by_sid["InvalidateOnRollback"]["Resource"]["Fn::Sub"].endswith(":distribution/${Distribution}")
    assert by_sid["AnnounceChanges"]["Resource"] == {"Ref": "StatusTopic"}


def test_store_is_given_only_with_edge_routing():
    value = FUNCTION["Environment"]["Variables"]["RELEASE_STORE_ARN"]
    for mode, expected in (("edge", {"Fn::GetAtt": ["ReleaseStore", "Arn"]}), ("origin", "")):
        assert cfn.resolve_conditions(value, cfn.parameters(TEMPLATE, ReleaseRouting=mode)) == expected
