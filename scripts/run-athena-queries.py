#!/usr/bin/env python3
"""Runs the Athena named queries of infra/template.yaml on DuckDB over local CloudFront logs and
prints their results as JSON ({logical id: rows}). A test compares them with `media-edge logs`,
so the queries and the command provably count the same things.

The table is built the way the Glue table reads the logs (columns by position, as declared in the
template; unparsable numbers and `-` in numeric columns are NULL). Lines `media-edge logs` reports
as malformed (too few fields, bad date, time, bytes or status) are left out here; Athena would
keep them with NULLs.

  scripts/run-athena-queries.py LOG_DIR --today YYYY-MM-DD
"""
import argparse
import datetime
import gzip
import json
import pathlib
import tempfile

import duckdb
import yaml

root = pathlib.Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    pass


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("log_dir")
    parser.add_argument("--today", required=True, help="what current_date means in the queries")
    args = parser.parse_args()
    template = yaml.load((root / "infra/template.yaml").read_text(), Loader=CfnLoader)
    resources = template["Resources"]
    table = resources["CloudFrontLogsTable"]["Properties"]["TableInput"]
    columns = table["StorageDescriptor"]["Columns"]

    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE {table['Name']} ("
        + ", ".join(f"{c['Name']} {DUCKDB_TYPES[c['Type']]}" for c in columns)
        + ")"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".tsv") as tsv:
        for row in rows(args.log_dir, columns):
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
        sql = resource["Properties"]["QueryString"].replace("current_date", f"DATE '{args.today}'")
        results[name] = [
            [v.isoformat() if isinstance(v, datetime.date) else v for v in row] for row in con.execute(sql).fetchall()
        ]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
