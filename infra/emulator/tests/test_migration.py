"""`media-edge migrate` as an operator runs it, against the template deployed on the emulator with
HostedZoneId, RecordName and the health check of the old servers: the command line binary, the
stack's outputs, Route 53's weighted records (the emulator checks change batches as Route 53 does:
all or nothing, deletes exactly as read)."""
import json
import os
import subprocess

import pytest

from conftest import unique
from infra.emulator.tests.test_invoke import binary


@pytest.fixture(scope="module")
def site(stacks, endpoint):
    r53 = stacks.client({"stack": {"region": "us-east-1"}}, "route53")
    domain = unique("site") + ".example.com"
    zone = r53.create_hosted_zone(Name=domain, CallerReference=domain)["HostedZone"]["Id"].split("/")[-1]
    name = "www." + domain
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": name, "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.10"}]}}]})
    d = stacks.deploy("media-edge-migrate", parameters={
        "HostedZoneId": zone, "RecordName": name, "LegacyOriginDomain": "origin." + domain,
        "LegacyHealthCheckPath": "/health"})
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, RELEASES_BUCKET=d["outputs"]["ReleasesBucketName"],
               HOSTED_ZONE_ID=zone, RECORD_NAME=name, USER="operator")
    return {"stack": d, "zone": zone, "name": name, "r53": r53, "env": env}


def migrate(site, *args, ok=True):
    run = subprocess.run([str(binary("media-edge")), "migrate", *args], env=site["env"], capture_output=True,
                         text=True, timeout=60)
    assert (run.returncode == 0) == ok, run.stdout + run.stderr
    return run.stdout + run.stderr


def weights(site):
    sets = site["r53"].list_resource_record_sets(HostedZoneId=site["zone"])["ResourceRecordSets"]
    return sorted((s.get("SetIdentifier"), s.get("Weight"), s.get("HealthCheckId") is not None)
                  for s in sets if s["Name"] == site["name"] + "." and s["Type"] == "A")


def test_the_stack_checks_the_old_servers_health(site):
    outputs = site["stack"]["outputs"]
    check = site["r53"].get_health_check(HealthCheckId=outputs["LegacyHealthCheckId"])["HealthCheck"]
    config = check["HealthCheckConfig"]
    assert (config["Type"], config["FullyQualifiedDomainName"], config["ResourcePath"]) == (
        "HTTPS", "origin." + site["name"].split(".", 1)[1], "/health")
    assert int(config["Port"]) == 443


def test_an_operator_prepares_shifts_rolls_back_and_finishes(site):
    health = site["stack"]["outputs"]["LegacyHealthCheckId"]
    out = migrate(site, "prepare", "--distribution-domain", "d111111abcdef8.cloudfront.net", "--health-check", health)
    assert "nothing changed for viewers" in out
    assert weights(site) == [("media-edge-cloudfront", 0, False), ("media-edge-legacy", 100, True)]
    migrate(site, "prepare", "--distribution-domain", "d111111abcdef8.cloudfront.net", ok=False)

    assert "CloudFront 0% → 10%; resolvers follow within the record's TTL, 300 s" in migrate(site, "shift", "10")
    assert weights(site) == [("media-edge-cloudfront", 10, False), ("media-edge-legacy", 90, True)]
    migrate(site, "shift", "101", ok=False)

    out = migrate(site, "rollback", "--why", "errors on the new site")
    assert "every viewer back on the old servers (CloudFront was at 10%)" in out and "300 s" in out
    assert weights(site) == [("media-edge-cloudfront", 0, False), ("media-edge-legacy", 100, True)]

    out = migrate(site, "finish", "--keep-legacy", "3d")
    assert "every viewer on CloudFront" in out
    assert weights(site) == [("media-edge-cloudfront", 100, False), ("media-edge-legacy", 0, True)]
    status = migrate(site, "status")
    assert "CloudFront 100%, the old servers 0%" in status
    assert "rollback window: 2591" in status or "rollback window: 2592" in status  # 3 days, in seconds
    assert "errors on the new site" in status  # the history
    # What the controller will announce waits in the state, in order.
    s3 = site["env"]
    state = json.loads(subprocess.run(
        [".venv/bin/python", "-c", "import boto3,sys; print(boto3.client('s3').get_object(Bucket=sys.argv[1], "
         "Key=sys.argv[2])['Body'].read().decode())", s3["RELEASES_BUCKET"], f"migrations/{site['name']}.json"],
        env=s3, capture_output=True, text=True, check=True).stdout)
    assert [p["event"]["change"] for p in state["pending"]] == ["operator", "operator", "rolled_back", "promoted"]
    assert {p["event"]["channel"] for p in state["pending"]} == {"dns:" + site["name"]}


def test_a_plan_needs_a_gate_and_a_sensible_interval(site):
    migrate(site, "rollout", "--steps", "10,50,100", "--every", "1d", ok=False)  # no --gate
    assert "steps must increase" in migrate(site, "rollout", "--steps", "50,10", "--gate", "x", ok=False)
    assert "at least 1m" in migrate(site, "rollout", "--every", "10s", "--gate", "x", ok=False)
