"""python -m infra.emulator deploy|delete|invoke: see deploy.py and invoke.py.

    python -m infra.emulator deploy --endpoint $AWS_ENDPOINT_URL --stack NAME [--region R]
        [--param Key=Value ...] [--artifact LogicalId=path.zip ...] [--template PATH] --out FILE.json
    python -m infra.emulator delete --endpoint $AWS_ENDPOINT_URL --stack NAME [--region R]
    python -m infra.emulator invoke --function NAME --event FILE.json [--binary PATH]
        [--param Key=Value ...] [--region R] [--json]
"""
import argparse
import os
import sys

import json
import uuid

from infra.emulator import deploy, invoke, translate


def pairs(values, what):
    out = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep:
            sys.exit(f"{what} {value!r}: expected Key=Value")
        out[key] = rest
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m infra.emulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("deploy", "delete"):
        p = sub.add_parser(name)
        p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"), required="AWS_ENDPOINT_URL" not in os.environ)
        p.add_argument("--stack", required=True)
        p.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
        if name == "deploy":
            p.add_argument("--param", action="append", metavar="KEY=VALUE")
            p.add_argument("--artifact", action="append", metavar="LOGICALID=ZIP")
            p.add_argument("--template", default=str(translate.TEMPLATE))
            p.add_argument("--out", required=True)
    p = sub.add_parser("invoke", help="a function's build invoked with a sample event through cargo lambda")
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"), required="AWS_ENDPOINT_URL" not in os.environ)
    p.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    p.add_argument("--function", required=True, choices=sorted(invoke.FUNCTIONS))
    p.add_argument("--event", required=True)
    p.add_argument("--binary", help="default: target/debug/<function>")
    p.add_argument("--param", action="append", metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    args = parser.parse_args(argv)
    if args.command == "invoke":
        return invoke_command(args)
    if args.command == "deploy":
        try:
            d = deploy.deploy(args.endpoint, args.stack, args.region, pairs(args.param, "--param"), args.template,
                              pairs(args.artifact, "--artifact"), args.out)
        except deploy.DeployError as e:
            sys.exit(f"deploy failed: {e}")
        created = sum(1 for r in d["resources"].values() if not r["placeholder"])
        print(f"stack {args.stack} ({args.region}): {created} resources created, "
              f"{len(d['resources']) - created} placeholders ({', '.join(sorted(d['placeholders']))}); "
              f"{d['stack']['seconds']} s; described in {args.out}", file=sys.stderr)
    else:
        deploy.delete(args.endpoint, args.stack, args.region)


def invoke_command(args):
    stack = f"media-edge-invoke-{uuid.uuid4().hex[:6]}"
    try:
        description = deploy.deploy(args.endpoint, stack, args.region, pairs(args.param, "--param"))
    except deploy.DeployError as e:
        sys.exit(f"deploy failed: {e}")
    try:
        env = description["functions"][invoke.FUNCTIONS[args.function]].get("Environment", {}).get("Variables", {})
        if args.function == "release-controller" and env.get("RELEASE_STORE_ARN", "").startswith("placeholder:"):
            print("note: the CloudFront KeyValueStore is not emulated, so with ReleaseRouting=edge every run "
                  "reports the edge store behind; PARAMS=ReleaseRouting=origin runs without it", file=sys.stderr)
        binary = args.binary or str(invoke.ROOT / "target" / "debug" / args.function)
        result = invoke.run(args.endpoint, args.function, args.event, binary, description)
    except invoke.InvokeError as e:
        sys.exit(f"invoke failed: {e}")
    finally:
        deploy.delete(args.endpoint, stack, args.region)
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        sys.stderr.write(result["log"])
        invoke.report(result, sys.stdout)
    return 1 if result["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
