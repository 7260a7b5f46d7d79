"""The SAM template as CloudFormation, offline (aws-sam-translator, what CloudFormation runs for
`Transform: AWS::Serverless-2016-10-31`).

CloudFormation takes code only from S3, so every CodeUri/ContentUri becomes an s3:// location in
the emulator's artifact bucket, as `sam package` would write it: `<LogicalId>.zip` in bucket
ARTIFACTS; deploy.py moves them under the stack's own prefix (relocate()) and uploads a zip
there (a placeholder unless it is given the real one)."""
import copy
import functools
import json
import logging
import pathlib

import yaml

# The template loaded as CloudFormation reads it: the template tests' own loader.
from infra.tests.cfn import ROOT, TEMPLATE, CfnLoader, load  # noqa: F401 (ROOT, TEMPLATE, load: for callers)


class _PolicyLoader:
    """SAM asks IAM for the ARNs of the AWS-managed policies a template names; offline we answer
    for the few that can appear (as infra/tests/cfn.py does)."""

    def load(self):
        return {
            name: f"arn:aws:iam::aws:policy/service-role/{name}"
            for name in ["AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole", "AWSLambdaRole"]
        }


ARTIFACTS = "media-edge-emulator-artifacts"


def translate(template, region):
    """The SAM template (a dict, as load() gives it) as CloudFormation for `region`, its code at
    s3://ARTIFACTS/<LogicalId>.zip (LogicalId of the SAM resource)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    for name, resource in template["Resources"].items():
        props = resource.get("Properties") or {}
        for uri in ("CodeUri", "ContentUri"):
            if uri in props:
                props[uri] = f"s3://{ARTIFACTS}/{name}.zip"
    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its feature-toggle notices
    previous = ArnGenerator.BOTO_SESSION_REGION_NAME
    ArnGenerator.BOTO_SESSION_REGION_NAME = region  # the partition SAM writes into ARNs
    try:
        # samtranslator.translator.transform.transform(), with the region given rather than
        # looked up by boto3.
        translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
        policies = _PolicyLoader().load()
        return translator.translate(template, parameter_values={}, get_managed_policy_map=lambda: policies)
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous


@functools.lru_cache(maxsize=8)
def _translated_text(text, region):
    return json.dumps(translate(yaml.load(text, Loader=CfnLoader), region), default=str)


def translate_file(path, region):
    """translate() of a template file, cached by its text (tests deploy the same one often)."""
    return json.loads(_translated_text(pathlib.Path(path).read_text(), region))


def artifacts(template):
    """{logical id: (property, S3 location dict)} of the code the translated template reads."""
    found = {}
    for name, resource in template["Resources"].items():
        props = resource.get("Properties") or {}
        for prop in ("Code", "Content"):
            location = props.get(prop)
            if isinstance(location, dict) and location.get("S3Bucket") == ARTIFACTS:
                found[name] = location
    return found
