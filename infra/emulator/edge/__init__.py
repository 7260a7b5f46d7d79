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
KeyValueStore association the store whose entries the server reads, and an S3 origin's bucket
policy what the distribution may read of it (the emulator records bucket policies, it does not
apply them).

A KeyValueStore is filled by `media-edge release` (and the release controller) from the channel
configs in the releases bucket (`channels/<channel>.json`, entry = EdgeEntry: stable, canary,
weight). The store's source here: the bucket named beside it in the environment of the function
that writes it (RELEASE_STORE_ARN = the store, RELEASES_BUCKET = the bucket), read at every
`kvs.get`; server.js can take a JSON file instead (`--kvs FILE`)."""
import fnmatch
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


ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
DISTRIBUTION_ID = "LOCALEDGE"  # the distribution's id as the local edge calls itself


def _replace_getatt_arn(node, arns):
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][1] == "Arn" and node["Fn::GetAtt"][0] in arns:
            return arns[node["Fn::GetAtt"][0]]
        return {k: _replace_getatt_arn(v, arns) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_getatt_arn(v, arns) for v in node]
    return node


def _bucket_access(template, params, description, bucket_logical, bucket_name):
    """What the bucket's policy (the template's, conditions resolved) lets this distribution do
    through origin access control: the object key patterns it may GetObject (minus those a Deny
    takes away) and whether it may ListBucket (S3 answers a missing key with 404 only then, 403
    otherwise). Statements count for the CloudFront service principal (or `*`) when their
    Condition holds for a request from this distribution over HTTPS: `AWS:SourceArn` equal to the
    distribution's ARN, `aws:SecureTransport` "true"; any other condition key is taken as not
    holding (the local edge would rather refuse than serve what S3 might not)."""
    policies = [r for r in template["Resources"].values()
                if r["Type"] == "AWS::S3::BucketPolicy" and cfn.ref_name(r["Properties"]["Bucket"]) == bucket_logical]
    account = description["stack"]["id"].split(":")[4]
    source_arn = f"arn:aws:cloudfront::{account}:distribution/{DISTRIBUTION_ID}"
    scope = cfn.Values({**params, f"{bucket_logical}.Arn": f"arn:aws:s3:::{bucket_name}", "Distribution": DISTRIBUTION_ID,
                        "AWS::AccountId": account}, params.conditions)
    arns = {bucket_logical: f"arn:aws:s3:::{bucket_name}"}
    access = {"policy": None, "get": [], "deny_get": [], "list": False, "deny_list": False}

    def holds(condition):
        for operator, tests in (condition or {}).items():
            for key, value in tests.items():
                wanted = [cfn.evaluate(v, scope) for v in cfn.as_list(value)]
                if operator == "StringEquals" and key.lower() == "aws:sourcearn":
                    ok = source_arn in wanted
                elif operator == "Bool" and key.lower() == "aws:securetransport":
                    ok = "true" in [w.lower() for w in wanted]
                else:
                    ok = False
                if not ok:
                    return False
        return True

    for policy in policies:
        access["policy"] = next(k for k, r in template["Resources"].items() if r is policy)
        document = cfn.resolve_conditions(policy["Properties"]["PolicyDocument"], params)
        for statement in cfn.statements(document):
            principal = statement.get("Principal")
            services = cfn.as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
            if principal != "*" and "cloudfront.amazonaws.com" not in services:
                continue
            if not holds(statement.get("Condition")):
                continue
            actions = [a.lower() for a in cfn.as_list(statement.get("Action", []))]
            resources = [cfn.evaluate(_replace_getatt_arn(r, arns), scope) for r in cfn.as_list(statement.get("Resource", []))]
            allow = statement["Effect"] == "Allow"
            if any(fnmatch.fnmatchcase("s3:getobject", a) for a in actions):
                keys = [r.split("/", 1)[1] for r in resources if r.startswith(f"arn:aws:s3:::{bucket_name}/")]
                access["get" if allow else "deny_get"] += keys
            if any(fnmatch.fnmatchcase("s3:listbucket", a) for a in actions) and f"arn:aws:s3:::{bucket_name}" in resources:
                access["list" if allow else "deny_list"] = True
    access["list"] = access["list"] and not access.pop("deny_list")
    return access


def _origin(template, params, origin, description):
    logical = _getatt(origin["DomainName"])
    resource = description["resources"].get(logical or "", {})
    out = {"id": origin["Id"], "resource": logical}
    if "S3OriginConfig" in origin and resource.get("type") == "AWS::S3::Bucket":
        out.update(type="s3", bucket=resource["physical_id"], signed=bool(origin.get("OriginAccessControlId")),
                   access=_bucket_access(template, params, description, logical, resource["physical_id"]))
    elif "CustomOriginConfig" in origin and logical is None:
        # A custom origin named by a parameter (LegacyOriginDomain: the old web server).
        custom = origin["CustomOriginConfig"]
        protocol = "http" if cfn.evaluate(custom["OriginProtocolPolicy"], params) == "http-only" else "https"
        port = custom.get("HTTPPort" if protocol == "http" else "HTTPSPort", 80 if protocol == "http" else 443)
        out.update(type="http", protocol=protocol, host=cfn.evaluate(origin["DomainName"], params),
                   port=int(cfn.evaluate(port, params)), path=cfn.evaluate(origin.get("OriginPath", ""), params))
    else:
        # A custom origin (the router's function URL): the emulator does not serve function URLs.
        out.update(type="unavailable", why=f"{logical or origin['Id']} is not served on the emulator "
                   "(function URLs are not served); deploy with ReleaseRouting=edge to route releases at the edge")
    return out


def _origin_group(group):
    """An origin group: its members in order and the statuses that send a request to the next."""
    return {"id": group["Id"], "type": "group", "members": [m["OriginId"] for m in group["Members"]["Items"]],
            "failover": [int(c) for c in group["FailoverCriteria"]["StatusCodes"]["Items"]]}


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
        # Managed-AllViewerExceptHostHeader: the viewer's headers, cookies and query string go to the origin.
        "forwardViewer": b.get("OriginRequestPolicyId") == ALL_VIEWER_EXCEPT_HOST,
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
    config = cfn.deployed_distribution_config(template, params)
    behaviours = [_behaviour(template, params, b, b["PathPattern"]) for b in config.get("CacheBehaviors", [])]
    behaviours.append(_behaviour(template, params, config["DefaultCacheBehavior"], "*"))
    behaviours[-1]["default"] = True
    functions = _functions(template, params, behaviours)
    return {
        "comment": "The distribution of infra/template.yaml as deployed for this stack: generated by "
                   "`python -m infra.emulator.edge config`, read by infra/emulator/edge/server.js.",
        "stack": {k: description["stack"][k] for k in ("name", "id", "region", "parameters", "template")},
        "endpoint": description["stack"]["endpoint"],
        "origins": {**{o["Id"]: _origin(template, params, o, description) for o in config["Origins"]},
                    **{g["Id"]: _origin_group(g) for g in config.get("OriginGroups", {}).get("Items", [])}},
        "behaviours": behaviours,
        "functions": functions,
        "stores": _stores(template, description, functions),
    }


def write_edge_config(description_path, out_path, template_path=None):
    description = json.loads(pathlib.Path(description_path).read_text())
    config = edge_config(description, template_path)
    pathlib.Path(out_path).write_text(json.dumps(config, indent=1) + "\n")
    return config
