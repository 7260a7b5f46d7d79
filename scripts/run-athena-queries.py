#!/usr/bin/env python3
"""Runs the Athena named queries of infra/template.yaml on DuckDB over local CloudFront logs and
prints their results as JSON ({logical id: rows}). A test compares them with `media-edge logs`,
so the queries and the command provably count the same things.

The table is built the way the Glue table reads the logs for the chosen AccessLogs kind:
- legacy: tab-separated lines, columns by position as declared; unparsable numbers and `-` in
  numeric columns are NULL. Lines `media-edge logs` reports as malformed (too few fields, bad
  date, time, bytes or status) are left out here; Athena would keep them with NULLs.
- v2: JSON lines, columns by the SerDe's `mapping.*` (keys matched without case, as the OpenX
  SerDe does), numbers parsed from strings; the partition columns (distributionid, hour_utc) come
  from each file's path through the table's storage.location.template, as partition projection
  derives them. The queries are their v2 branch (which filters on hour_utc).

  scripts/run-athena-queries.py LOG_DIR --today YYYY-MM-DD [--access-logs legacy|v2]
"""
import argparse
import datetime
import gzip
import json
import pathlib
import re
import sys
import tempfile

import duckdb

root = pathlib.Path(__file__).resolve().parent.parent


# The template as CloudFormation reads it and deploys it for given parameters: the template
# tests' own helpers (infra/tests/cfn.py).
sys.path.insert(0, str(root / "infra/tests"))
import cfn  # noqa: E402


def deployed_resources(v2):
    """The template's resources with every Fn::If resolved for AccessLogs=v2 or legacy."""
    template = cfn.load()
    params = cfn.parameters(template, AccessLogs="v2" if v2 else "legacy", **{"AWS::Region": "us-east-1"})
    return cfn.resolve_conditions(template["Resources"], params)


DUCKDB_TYPES = {"date": "DATE", "string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "float": "DOUBLE"}


def rows(log_dir, columns):
    names = [c["Name"] for c in columns]
    for path in sorted(p for p in pathlib.Path(log_dir).rglob("*") if p.is_file()):
        data = path.read_bytes()
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        for line in raw.decode(errors="replace").split("\n"):
            line = line.removesuffix("\r")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != len(columns):
                continue
            row = []
            try:
                datetime.date.fromisoformat(fields[names.index("log_date")])
                datetime.time.fromisoformat(fields[names.index("log_time")])
                int(fields[names.index("sc_bytes")])
                if fields[names.index("sc_status")] != "-":
                    int(fields[names.index("sc_status")])
            except ValueError:
                continue
            for column, value in zip(columns, fields):
                kind = column["Type"]
                if kind in ("bigint", "int", "float"):
                    try:
                        value = float(value) if kind == "float" else int(value)
                    except ValueError:
                        value = None
                row.append(value)
            yield row


def number(kind, value):
    """A numeric column's value as the OpenX JSON SerDe reads it: a missing field is NULL, a value
    that is not a number fails the query (HIVE_BAD_DATA), so it fails here too."""
    if value is None:
        return None
    try:
        return float(value) if kind == "float" else int(value)
    except ValueError:
        sys.exit(f"HIVE_BAD_DATA: {value!r} in a {kind} column (declare it string and TRY_CAST it)")


def v2_rows(log_dir, table):
    """Rows of the v2 table: each JSON line's mapped fields, then the partition columns."""
    columns = table["StorageDescriptor"]["Columns"]
    mapping = {k.removeprefix("mapping."): v for k, v in table["StorageDescriptor"]["SerdeInfo"]["Parameters"].items()
               if k.startswith("mapping.")}
    # s3://${LogsBucket}/cloudfront-v2/${!distributionid}/${!hour_utc}/: the part below the table's
    # location, each ${!name} a partition column (`${!x}` is Fn::Sub's literal `${x}`).
    template = table["Parameters"]["storage.location.template"]["Fn::Sub"]
    location = table["StorageDescriptor"]["Location"]["Fn::Sub"]
    assert template.startswith(location), (template, location)
    below = re.escape(template[len(location):])
    # A date projection's value has as many path segments as its format (yyyy/MM/dd/HH: four).
    def segment(match):
        slashes = table["Parameters"].get(f"projection.{match.group(1)}.format", "").count("/")
        return f"(?P<{match.group(1)}>[^/]+" + "/[^/]+" * slashes + ")"

    pattern = re.compile("^" + re.sub(r"\\\$\\\{!(\w+)\\\}", segment, below) + "[^/]+$")
    for path in sorted(p for p in pathlib.Path(log_dir).rglob("*") if p.is_file()):
        partition = pattern.match(path.relative_to(log_dir).as_posix())
        if not partition:
            continue
        data = path.read_bytes()
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        for line in raw.decode(errors="replace").split("\n"):
            try:
                record = {k.lower(): v for k, v in json.loads(line).items()}
            except (ValueError, AttributeError):
                continue  # ignore.malformed.json
            row = []
            for column in columns:
                value = record.get(mapping[column["Name"]])
                row.append(number(column["Type"], value) if column["Type"] in ("bigint", "int", "float") else value)
            yield row + [partition.group(k["Name"]) for k in table["PartitionKeys"]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("log_dir")
    parser.add_argument("--today", required=True, help="what current_date means in the queries")
    parser.add_argument("--access-logs", choices=["legacy", "v2"], default="legacy")
    args = parser.parse_args()
    v2 = args.access_logs == "v2"
    resources = deployed_resources(v2)
    table = resources["CloudFrontLogsTable"]["Properties"]["TableInput"]
    partition_keys = table.get("PartitionKeys", [])  # none for legacy logs
    columns = table["StorageDescriptor"]["Columns"] + partition_keys

    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE {table['Name']} ("
        + ", ".join(f"{c['Name']} {DUCKDB_TYPES[c['Type']]}" for c in columns)
        + ")"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".tsv") as tsv:
        for row in (v2_rows(args.log_dir, table) if v2 else rows(args.log_dir, columns)):
            tsv.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
        tsv.flush()
        types = ", ".join(f"'{c['Name']}': '{DUCKDB_TYPES[c['Type']]}'" for c in columns)
        con.execute(
            f"INSERT INTO {table['Name']} SELECT * FROM read_csv('{tsv.name}', delim='\\t', header=false, "
            f"quote='', escape='', nullstr='\\N', columns={{{types}}})"
        )
    results = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Athena::NamedQuery":
            continue
        if resource.get("Condition") == "LogsV2" and not v2:
            continue  # a query of the v2 table only
        sql = resource["Properties"]["QueryString"].replace("current_date", f"DATE '{args.today}'")
        results[name] = [
            [v.isoformat() if isinstance(v, datetime.date) else v for v in row] for row in con.execute(sql).fetchall()
        ]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
