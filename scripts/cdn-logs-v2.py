#!/usr/bin/env python3
"""Rewrites legacy CloudFront logs as standard logging v2 delivers them with this stack's delivery
(infra/template.yaml, AccessLogsDelivery): only its RecordFields, every value a string as v2 writes
it, one file per hour under the suffix path <DistributionId>/<yyyy>/<MM>/<dd>/<HH>/.

  json:    gzipped JSON lines (the template's OutputFormat)
  parquet: one Parquet file per hour, gzip-compressed, fields renamed to Parquet-friendly names
           (`cs(User-Agent)` -> `cs_user_agent`), as a delivery may rename them

Requests of the release channels (/sdk, /app) get the log data the release edge function writes
(`viewer-request-log-data`: release=<channel>;kind=<kind>;version=<version>;cohort=<n>, URL-encoded
as CloudFront logs it), with a cohort from the request id and a 10% canary. Lines the legacy reader
would call malformed are left out. Tests use it to show that a v2 copy of
the sample logs reports the same numbers (`media-edge logs`) and that the v2 Glue table's queries
count them the same (scripts/run-athena-queries.py --access-logs v2).

  scripts/cdn-logs-v2.py LEGACY_DIR OUT_DIR [--format json|parquet]
"""
import argparse
import collections
import datetime
import gzip
import hashlib
import io
import json
import pathlib
import re
import urllib.parse

import sys

root = pathlib.Path(__file__).resolve().parent.parent
DISTRIBUTION = "E2QWRUHAPOMQZL"

# The template as CloudFormation deploys it for given parameters: the template tests' own helpers.
sys.path.insert(0, str(root / "infra/tests"))
import cfn  # noqa: E402


def record_fields():
    """The delivery's RecordFields of a us-east-1 stack with ReleaseLogData=true: the samples carry
    the release function's log data, which the release tables read."""
    template = cfn.load()
    params = cfn.parameters(template, AccessLogs="v2", ReleaseLogData="true", **{"AWS::Region": "us-east-1"})
    return cfn.resolve_conditions(template["Resources"]["AccessLogsDelivery"]["Properties"]["RecordFields"], params)


def read_log(path):
    """A log's text; of a gzip stream that breaks off, the lines before the break (as
    `media-edge logs` reads it)."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    chunks = []
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        try:
            while chunk := stream.read(1 << 16):
                chunks.append(chunk)
        except (EOFError, OSError):
            whole = b"".join(chunks)
            return whole[: whole.rfind(b"\n") + 1]
    return b"".join(chunks)


def legacy_records(log_dir):
    """(hour key, {field: value}) for each readable legacy line."""
    for path in sorted(p for p in pathlib.Path(log_dir).rglob("*") if p.is_file()):
        raw = read_log(path)
        names = None
        for line in raw.decode(errors="replace").split("\n"):
            line = line.removesuffix("\r")
            if line.startswith("#Fields:"):
                names = line[len("#Fields:"):].split()
                continue
            if not line or line.startswith("#") or names is None:
                continue
            values = line.split("\t")
            if len(values) != len(names):
                continue
            record = dict(zip(names, values))
            try:
                day = datetime.date.fromisoformat(record["date"])
                datetime.time.fromisoformat(record["time"])
                int(record["sc-bytes"])
                if record.get("sc-status", "-") != "-":
                    int(record["sc-status"])
            except (KeyError, ValueError):
                continue
            yield f"{day:%Y/%m/%d}/{record['time'][:2]}", record


# The sample's releases: (stable, canary) per channel; cohorts below CANARY_COHORTS get the canary.
RELEASES = {"sdk": ("1.4.2", "1.5.0-rc.1+b7"), "app": ("2026.11.14", "2026.11.21")}
CANARY_COHORTS = 10


def release_log_data(record):
    """What release-edge.js logs for a request of a release channel, or `-`."""
    channel = record["cs-uri-stem"].lstrip("/").split("/", 1)[0]
    if channel not in RELEASES:
        return "-"
    cohort = int(hashlib.sha256(record["x-edge-request-id"].encode()).hexdigest(), 16) % 100
    stable, canary = RELEASES[channel]
    kind, version = ("canary", canary) if cohort < CANARY_COHORTS else ("stable", stable)
    return urllib.parse.quote(f"release={channel};kind={kind};version={version};cohort={cohort}", safe="")


def parquet_name(field):
    return re.sub(r"[^a-z0-9]+", "_", field.lower()).strip("_")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("legacy_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--format", choices=["json", "parquet"], default="json")
    args = parser.parse_args()
    fields = record_fields()
    hours = collections.defaultdict(list)
    for hour, record in legacy_records(args.legacy_dir):
        record["viewer-request-log-data"] = release_log_data(record)
        hours[hour].append({f: record.get(f, "-") for f in fields})
    for hour, records in sorted(hours.items()):
        folder = pathlib.Path(args.out_dir, DISTRIBUTION, hour)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = hour.replace("/", "-")
        unique = hashlib.sha256(hour.encode()).hexdigest()[:8]
        if args.format == "json":
            lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            (folder / f"{DISTRIBUTION}.{stamp}.{unique}.gz").write_bytes(gzip.compress(lines.encode(), mtime=0))
        else:
            import duckdb

            # Through a JSON-lines file: DuckDB reads it in bulk (row inserts take minutes at 300k).
            staged = folder / "staged.jsonl"
            with staged.open("w") as out:
                for r in records:
                    out.write(json.dumps({parquet_name(f): (None if r[f] == "-" else r[f]) for f in fields}) + "\n")
            columns = ", ".join(f"'{parquet_name(f)}': 'VARCHAR'" for f in fields)
            target = folder / f"{DISTRIBUTION}.{stamp}.{unique}.parquet"
            duckdb.connect().execute(
                f"COPY (SELECT * FROM read_json('{staged}', format='newline_delimited', columns={{{columns}}})) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION gzip)"
            )
            staged.unlink()


if __name__ == "__main__":
    main()
