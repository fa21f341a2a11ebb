"""A seeded stand-in for the Flink job that lands the Dagster+ event log in S3.

The command line (`python -m devstack.simulator`): land the hours asked for in a bucket (created when
missing) and print the manifest as JSON.

    python -m devstack.simulator --endpoint-url http://127.0.0.1:5000 --bucket flink-event-log \\
        --prefix event_log --end-hour 2025-08-01T06:00Z --hours 6 --events-per-hour 2000
"""

from __future__ import annotations

import argparse
import sys

from devstack.simulator.options import SimulationOptions
from devstack.simulator.writer import simulate
from include.event_log.land.hour_layout import Layout


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack.simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", required=True, help="S3 endpoint, e.g. the local moto server")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--bucket", required=True, help="created when missing")
    parser.add_argument("--prefix", default="event_log")
    parser.add_argument(
        "--layout",
        choices=[layout.value for layout in Layout],
        default=Layout.HIVE.value,
        help="hive: dt=YYYY-MM-DD/hr=HH/ as Flink's SQL sink writes (default); plain: YYYY/MM/DD/HH/",
    )
    parser.add_argument("--end-hour", required=True, help="first hour NOT landed, e.g. 2025-08-01T06:00Z")
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--events-per-hour", type=int, default=2000)
    parser.add_argument("--files-per-hour", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--organizations", type=int, default=3)
    parser.add_argument("--deployments-per-organization", type=int, default=2)
    parser.add_argument("--empty-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--uncommitted-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--late-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--late-events", type=int, default=40, help="late events per re-committed hour")
    parser.add_argument("--malformed-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--non-json-lines", type=int, default=2, help="per malformed hour")
    parser.add_argument("--no-truncated-line", action="store_true", help="malformed hours without a cut last line")
    parser.add_argument("--duplicate-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--duplicates", type=int, default=5, help="duplicated records per duplicate hour")
    parser.add_argument("--summary", action="store_true", help="leave the per-file event_log_ids out of the manifest")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Land the hours `argv` asks for (the bucket created when missing) and print the manifest as JSON."""
    import boto3
    from botocore.exceptions import ClientError

    args = _parser().parse_args(argv)
    options = SimulationOptions(
        bucket=args.bucket,
        prefix=args.prefix,
        layout=args.layout,
        seed=args.seed,
        end_hour=args.end_hour,
        hours=args.hours,
        events_per_hour=args.events_per_hour,
        files_per_hour=args.files_per_hour,
        parallelism=args.parallelism,
        gzip=args.gzip,
        organizations=args.organizations,
        deployments_per_organization=args.deployments_per_organization,
        empty_hours=tuple(args.empty_hour),
        uncommitted_hours=tuple(args.uncommitted_hour),
        late_hours=tuple(args.late_hour),
        late_events_per_hour=args.late_events,
        malformed_hours=tuple(args.malformed_hour),
        non_json_lines_per_hour=args.non_json_lines,
        truncated_last_line=not args.no_truncated_line,
        duplicate_hours=tuple(args.duplicate_hour),
        duplicates_per_hour=args.duplicates,
    )
    client = boto3.client("s3", endpoint_url=args.endpoint_url, region_name=args.region)
    try:
        client.head_bucket(Bucket=options.bucket)
    except ClientError:
        location = (
            {} if args.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": args.region}}
        )
        client.create_bucket(Bucket=options.bucket, **location)
    manifest = simulate(client, options)
    sys.stdout.write(manifest.to_json(include_event_log_ids=not args.summary, indent=2) + "\n")
    return 0
