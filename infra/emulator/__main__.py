"""python -m infra.emulator deploy|delete: see deploy.py.

    python -m infra.emulator deploy --endpoint $AWS_ENDPOINT_URL --stack NAME [--region R]
        [--param Key=Value ...] [--artifact LogicalId=path.zip ...] [--template PATH] --out FILE.json
    python -m infra.emulator delete --endpoint $AWS_ENDPOINT_URL --stack NAME [--region R]
"""
import argparse
import os
import sys

from infra.emulator import deploy, translate


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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    main()
