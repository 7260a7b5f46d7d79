"""python -m infra.emulator.edge config|serve: the local edge (infra/emulator/edge/server.js).

    python -m infra.emulator.edge config --description target/stack.json --out target/edge.json
    python -m infra.emulator.edge serve --description target/stack.json [--port 0] [--host 127.0.0.1]
        [--kvs channels.json] [--quiet]

`config` writes the distribution as deployed for the stack (see __init__.py); `serve` writes it
next to the description (<description>.edge.json) and runs the Node server in this process's place;
its first line on stdout is the URL it listens on."""
import argparse
import os
import pathlib
import shutil
import sys

from infra.emulator import edge


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m infra.emulator.edge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("config", "serve"):
        p = sub.add_parser(name)
        p.add_argument("--description", required=True, help="what `python -m infra.emulator deploy --out` wrote")
        p.add_argument("--template", help="default: the template the stack was deployed from")
        if name == "config":
            p.add_argument("--out", required=True)
        else:
            p.add_argument("--port", default="0")
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--kvs", help="KeyValueStore entries from this JSON file instead of the channel configs")
            p.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    out = args.out if args.command == "config" else str(pathlib.Path(args.description).with_suffix(".edge.json"))
    try:
        edge.write_edge_config(args.description, out, args.template)
    except edge.EdgeConfigError as e:
        sys.exit(f"local edge: {e}")
    if args.command == "serve":
        node = shutil.which("node") or sys.exit("node is required for the local edge")
        command = [node, str(edge.SERVER), "--config", out, "--port", args.port, "--host", args.host]
        if args.kvs:
            command += ["--kvs", args.kvs]
        if args.quiet:
            command.append("--quiet")
        sys.stdout.flush()
        os.execv(node, command)


if __name__ == "__main__":
    main()
