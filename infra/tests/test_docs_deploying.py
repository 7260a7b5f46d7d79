"""docs/deploying.md says what the template and the Makefile do: numbers an operator acts on are
read from them here, so the page cannot drift from them again (it said three bootstrap zips, a
240 s visibility timeout and "three failing runs" while the build made four, the queue had 180 s
and the alarm fired on one)."""
import re

import cfn

TEMPLATE = cfn.rendered()
RESOURCES = TEMPLATE["Resources"]
DOC = (cfn.ROOT / "docs/deploying.md").read_text()
WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def current_text():
    """The page without its history ("What changed for operators" says what things were)."""
    return DOC.split("## What changed for operators")[0]


def test_bootstrap_zip_count_is_the_build_targets():
    makefile = (cfn.ROOT / "Makefile").read_text()
    recipe = re.search(r"^build:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    binaries = re.findall(r"--bin ([\w-]+)", recipe)
    rust = [n for n, f in cfn.resources_of(TEMPLATE, "AWS::Serverless::Function").items()
            if f.get("Metadata", {}).get("BuildMethod") == "rust-cargolambda"]
    assert sorted(binaries) == sorted(f["Metadata"]["BuildProperties"]["Binary"] for n, f in RESOURCES.items() if n in rust)
    claim = re.search(r"`make build` alone produces the (\w+) arm64 `bootstrap.zip`s", DOC)
    assert claim and claim.group(1) == WORDS[len(binaries)], claim and claim.group(0)


def test_notifier_visibility_timeout_is_the_templates():
    seconds = int(RESOURCES["NotifierQueue"]["Properties"]["VisibilityTimeout"])
    text = current_text()
    assert f"visibility timeout {seconds} s" in text
    for claimed in re.findall(r"notifier queue's visibility timeout is (\d+) s", DOC):
        assert int(claimed) == seconds, f"docs say the notifier queue's visibility timeout is {claimed} s"


def test_release_controller_alarm_fires_as_the_docs_say():
    props = RESOURCES["ReleaseControllerErrorsAlarm"]["Properties"]
    runs = int(props["EvaluationPeriods"]) * int(float(props["Threshold"]))
    for claimed in re.findall(r"`ReleaseControllerErrorsAlarm`: (\w+) failing runs?", DOC):
        assert claimed == WORDS[runs], f"docs say {claimed} failing runs, the alarm fires on {runs}"
    assert re.search(r"`ReleaseControllerErrorsAlarm`: \w+ failing run", DOC)


def test_slack_setup_says_how_to_pass_the_parameters():
    # `make deploy` runs a plain `sam deploy` once infra/samconfig.toml exists: it asks nothing.
    makefile = (cfn.ROOT / "Makefile").read_text()
    assert "if [ -f samconfig.toml ]; then PATH=$(DEPLOY_PATH) sam deploy;" in makefile
    slack = DOC.split("## Slack", 1)[1].split("\n## ", 1)[0]
    assert "(`make deploy` again)" not in slack
    assert "sam deploy --guided" in slack and "parameter_overrides" in slack


def test_athena_result_location_is_mentioned():
    text = current_text()
    assert "primary" in text and "OutputLocation" in text


def test_every_alarm_is_in_the_alarm_table():
    table = DOC.split("## Alarms", 1)[1].split("\n## ", 1)[0]
    for name in cfn.resources_of(TEMPLATE, "AWS::CloudWatch::Alarm"):
        assert f"`{name}`" in table, name
