"""The local edge's configuration: the template's CloudFront distribution as deployed for a stack
on the emulator, for infra/emulator/edge/server.js.

CloudFront is a placeholder on the emulator (unmodelled.json), so the template is the source of the
behaviours: the Distribution's DistributionConfig with the template's conditions resolved for the
stack's own parameter values (infra/tests/cfn.py, as the template tests read it), and the stack
description (`python -m infra.emulator deploy --out`) for what the behaviours point at: an S3
origin's `!GetAtt <Bucket>.RegionalDomainName` becomes that bucket's name on the emulator, a
function association's `!GetAtt <Function>.FunctionMetadata.FunctionARN` becomes the function's
code as the template inlines it (FunctionCode, `!Sub` evaluated with the stack's parameters, so
`COHORTS` is the deployed CohortCount), a response headers policy its custom headers, a function's
KeyValueStore association the store whose entries the server reads.

A KeyValueStore is filled by `media-edge release` (and the release controller) from the channel
configs in the releases bucket (`channels/<channel>.json`, entry = EdgeEntry: stable, canary,
weight). The store's source here: the bucket named beside it in the environment of the function
that writes it (RELEASE_STORE_ARN = the store, RELEASES_BUCKET = the bucket), read at every
`kvs.get`; server.js can take a JSON file instead (`--kvs FILE`)."""
import json
import pathlib

from infra.tests import cfn

ROOT = pathlib.Path(__file__).resolve().parents[3]
SERVER = pathlib.Path(__file__).resolve().parent / "server.js"


class EdgeConfigError(Exception):
    pass


def _getatt(node):
    """The logical id an expression takes a GetAtt of (inside Select/Split too), or None."""
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            return node["Fn::GetAtt"][0]
        for value in node.values():
            found = _getatt(value)
            if found:
                return found
    if isinstance(node, list):
        for value in node:
            found = _getatt(value)
            if found:
                return found
    return None


def _params(template, description):
    stack = description["stack"]
    name, uuid = stack["id"].rsplit("/", 2)[-2:]
    values = dict(stack["parameters"])
    values.update({"AWS::Region": stack["region"], "AWS::StackId": stack["id"]})
    return cfn.parameters(template, stack_name=name, stack_uuid=uuid, **values)


def _origin(origin, description):
    logical = _getatt(origin["DomainName"])
    resource = description["resources"].get(logical or "", {})
    out = {"id": origin["Id"], "resource": logical}
    if "S3OriginConfig" in origin and resource.get("type") == "AWS::S3::Bucket":
        out.update(type="s3", bucket=resource["physical_id"])
    else:
        # A custom origin (the router's function URL): the emulator does not serve function URLs.
        out.update(type="unavailable", why=f"{logical or origin['Id']} is not served on the emulator "
                   "(function URLs are not served); deploy with ReleaseRouting=edge to route releases at the edge")
    return out


def _functions(template, params, behaviours):
    names = sorted({a["function"] for b in behaviours for a in b["functions"].values()})
    out = {}
    for name in names:
        props = template["Resources"][name]["Properties"]
        code = cfn.evaluate(props["FunctionCode"], params)
        stores = [cfn.ref_name(a["KeyValueStoreARN"]) for a in props["FunctionConfig"].get("KeyValueStoreAssociations", [])]
        out[name] = {"runtime": props["FunctionConfig"]["Runtime"], "comment": props["FunctionConfig"].get("Comment", ""),
                     "code": code, "stores": stores}
    return out


def _response_headers(template, params, policy_ref):
    name = cfn.ref_name(policy_ref) if policy_ref else None
    if not name:
        return []
    config = cfn.resolve_conditions(template["Resources"][name]["Properties"]["ResponseHeadersPolicyConfig"], params)
    items = config.get("CustomHeadersConfig", {}).get("Items", [])
    return [{"header": i["Header"], "value": cfn.evaluate(i["Value"], params), "override": bool(i["Override"])} for i in items]


def _behaviour(template, params, b, pattern):
    return {
        "pathPattern": pattern,
        "targetOriginId": b["TargetOriginId"],
        "allowedMethods": b.get("AllowedMethods", ["GET", "HEAD"]),
        "functions": {a["EventType"]: {"function": cfn.ref_name(a["FunctionARN"])} for a in b.get("FunctionAssociations", [])},
        "lambdaAssociations": [a["EventType"] for a in b.get("LambdaFunctionAssociations", [])],
        "responseHeaders": _response_headers(template, params, b.get("ResponseHeadersPolicyId")),
        "cachePolicy": cfn.ref_name(b.get("CachePolicyId")),
    }


def _stores(template, description, functions):
    out = {}
    for name in sorted({s for f in functions.values() for s in f["stores"]}):
        bucket = None
        for fn in description.get("functions", {}).values():
            env = (fn.get("Environment") or {}).get("Variables") or {}
            if env.get("RELEASE_STORE_ARN", "").startswith(f"placeholder:{name}") and env.get("RELEASES_BUCKET"):
                bucket = env["RELEASES_BUCKET"]
        out[name] = {"source": "channel-configs", "bucket": bucket, "prefix": "channels/", "suffix": ".json"} if bucket \
            else {"source": "empty"}
    return out


def edge_config(description, template_path=None):
    """The JSON server.js reads, from a stack description (a dict)."""
    template = cfn.load(template_path or description["stack"]["template"])
    params = _params(template, description)
    config = cfn.resolve_conditions(template["Resources"]["Distribution"]["Properties"]["DistributionConfig"], params)
    if "OriginGroups" in config:
        raise EdgeConfigError("origin groups are not supported by the local edge")
    behaviours = [_behaviour(template, params, b, b["PathPattern"]) for b in config.get("CacheBehaviors", [])]
    behaviours.append(_behaviour(template, params, config["DefaultCacheBehavior"], "*"))
    behaviours[-1]["default"] = True
    functions = _functions(template, params, behaviours)
    return {
        "comment": "The distribution of infra/template.yaml as deployed for this stack: generated by "
                   "`python -m infra.emulator.edge config`, read by infra/emulator/edge/server.js.",
        "stack": {k: description["stack"][k] for k in ("name", "id", "region", "parameters", "template")},
        "endpoint": description["stack"]["endpoint"],
        "origins": {o["Id"]: _origin(o, description) for o in config["Origins"]},
        "behaviours": behaviours,
        "functions": functions,
        "stores": _stores(template, description, functions),
    }


def write_edge_config(description_path, out_path, template_path=None):
    description = json.loads(pathlib.Path(description_path).read_text())
    config = edge_config(description, template_path)
    pathlib.Path(out_path).write_text(json.dumps(config, indent=1) + "\n")
    return config
