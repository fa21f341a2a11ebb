"""Land simulated events in S3 with real Apache Flink: the project's own lander, locally.

The simulator's event stream (devstack/simulator/stream.py: `event_stream`, `late_event_stream`), plus any
other Kafka records a caller adds (a value with a field the contract does not know, one that is not
JSON), is fed to real Flink jobs (devstack/flink_job.py, run in .venv-flink: `make flink-venv`), one
after another, each in its own process under a hard timeout and with `restart-strategy.type = none`.
Each record reaches Flink as its value's bytes and its replication time, as a Kafka record would; both
layouts write every value unchanged, one per line:

- layout `hive` (A): flink/lander.sql itself, with only its Kafka source replaced by a bounded source of
  the same columns and watermark; Flink's SQL filesystem sink writes `dt=YYYY-MM-DD/hr=HH/` part files
  without extension and `_SUCCESS` per committed hour;
- layout `plain` (B): a DataStream FileSink bucketing by the replication hour each record carries
  (event time), writing `YYYY/MM/DD/HH/part-<uuid>-<n>.jsonl` and never `_SUCCESS`.

The first job receives the hours' events; a second job, started after the first has committed, receives
the late events of the re-opened hours, as a restarted lander would. Flink writes to a local folder
(PyFlink has no S3 filesystem); after each job the folder is put into the bucket as Flink's S3 writer
would leave it: finished part files under their final names, then the `_SUCCESS` markers, plus the
by-products a reader must skip (a multipart `_…_tmp_<uuid>` object and a hidden in-progress file per
hour folder, with partial content).

    python -m devstack.flink_lander --endpoint-url http://127.0.0.1:5000 --bucket flink-event-log \\
        --layout hive --end-hour 2025-08-01T06:00Z --hours 5 --events-per-hour 80 \\
        --empty-hour 2025-08-01T03:00Z --late-hour 2025-08-01T02:00Z --late-events 1
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.simulator import SimulationOptions, StreamRecord, event_stream, late_event_stream, parse_hour
from include.event_log.land.hour_layout import SUCCESS_MARKER, HourLayout, Layout

REPO = Path(__file__).resolve().parent.parent
FLINK_VENV = REPO / ".venv-flink"
JAVA_SOURCES = REPO / "devstack" / "flink_java"
DEFAULT_JOB_TIMEOUT_SECONDS = 300


class FlinkJobError(RuntimeError):
    pass


@dataclass(frozen=True)
class KafkaRecord:
    """One record of the topic as the lander receives it: the value's bytes (None: a tombstone) and the
    record timestamp, which is the replication time."""

    replicated_at_us: int
    value: bytes | None

    @classmethod
    def of(cls, record: StreamRecord) -> KafkaRecord:
        """A simulated event as its producer sends it: the record's text, UTF-8."""
        return cls(record.replicated_at_us, record.line.encode("utf-8"))

    @property
    def hour(self) -> datetime:
        return datetime.fromtimestamp(self.replicated_at_us // 3_600_000_000 * 3600, tz=UTC)

    @property
    def event_log_id(self) -> int | None:
        """The id of a value that lands as one record: a JSON object with an integer `event_log_id`, on one
        line (the lander writes a value holding a newline as it is: it reads as several lines)."""
        if self.value is None or b"\n" in self.value:
            return None
        try:
            record = json.loads(self.value)
        except ValueError:
            return None
        event_id = record.get("event_log_id") if isinstance(record, dict) else None
        return event_id if isinstance(event_id, int) and not isinstance(event_id, bool) else None


@dataclass
class JobRun:
    name: str
    records: int
    seconds: float  # wall time of the job's process, JVM start included
    flink_seconds: float | None  # from building the job to its end, as the job reports it
    log: str


@dataclass
class LanderRun:
    layout: str
    bucket: str
    prefix: str
    jobs: list[JobRun] = field(default_factory=list)
    # Replication hour -> the event_log_ids given to Flink for it (first job and late jobs), of the values
    # that land as one record each (KafkaRecord.event_log_id).
    given: dict[datetime, list[int]] = field(default_factory=dict)
    # Replication hour -> every value given to Flink for it, in the order given (tombstones left out).
    given_values: dict[datetime, list[bytes]] = field(default_factory=dict)
    # Keys put into the bucket: what Flink wrote (part files, markers) and the by-products added.
    flink_keys: list[str] = field(default_factory=list)
    byproduct_keys: list[str] = field(default_factory=list)
    success_writes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["given"] = {f"{h:%Y-%m-%dT%H:%MZ}": len(ids) for h, ids in sorted(self.given.items())}
        out["given_values"] = {f"{h:%Y-%m-%dT%H:%MZ}": len(v) for h, v in sorted(self.given_values.items())}
        return out


def flink_python() -> Path:
    python = Path(os.environ.get("FLINK_PYTHON", FLINK_VENV / "bin" / "python"))
    if not python.exists():
        raise FlinkJobError(f"{python} is missing: run `make flink-venv` (real Flink lives in .venv-flink)")
    return python


def _pyflink_lib(python: Path) -> Path:
    found = sorted(python.resolve().parent.parent.glob("lib/python3*/site-packages/pyflink/lib"))
    if not found:
        found = sorted(Path(python).parent.parent.glob("lib/python3*/site-packages/pyflink/lib"))
    if not found:
        raise FlinkJobError(f"no pyflink/lib next to {python}: is apache-flink installed there?")
    return found[0]


def bucket_assigner_jar(work_dir: Path, python: Path) -> Path:
    """devstack/flink_java compiled against the installed Flink, cached by the sources' hash."""
    sources = sorted(JAVA_SOURCES.rglob("*.java"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    jar = work_dir / f"event-log-buckets-{digest}.jar"
    if jar.exists():
        return jar
    if shutil.which("javac") is None:
        raise FlinkJobError("javac is missing: install a JDK (Debian: apt-get install -y openjdk-17-jdk-headless)")
    classes = work_dir / f"classes-{digest}"
    shutil.rmtree(classes, ignore_errors=True)
    classpath = str(_pyflink_lib(python) / "*")
    command = ["javac", "--release", "11", "-d", str(classes), "-cp", classpath, *map(str, sources)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    partial = jar.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for path in sorted(classes.rglob("*.class")):
            archive.write(path, path.relative_to(classes).as_posix())
    partial.rename(jar)
    return jar


def _iso_ms(us: int) -> str:
    return datetime.fromtimestamp(us // 1000 / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_job_input(records: Sequence[KafkaRecord], path: Path) -> None:
    """What the bounded source reads, in both layouts: per record, its value in base64 (the JSON format's
    encoding of a BYTES column: any bytes, newlines included, reach Flink as they are) and the replication
    time Kafka would have stamped."""
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            value = None if record.value is None else base64.b64encode(record.value).decode("ascii")
            out.write(json.dumps({"record_value": value, "replicated_at": _iso_ms(record.replicated_at_us)}) + "\n")


def run_flink_job(
    layout: Layout, input_path: Path, output_dir: Path, log_path: Path, *, jar: Path | None, timeout: float
) -> tuple[float, float | None]:
    """One Flink job in its own process group, killed (the group, by its pid) at the timeout."""
    command = [str(flink_python()), "-m", "devstack.flink_job", "--layout", layout.value]
    command += ["--input", str(input_path), "--output", str(output_dir)]
    if jar is not None:
        command += ["--jar", str(jar)]
    env = os.environ | {"PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            raise FlinkJobError(f"Flink job ({layout}) did not finish within {timeout:.0f}s; log: {log_path}") from None
        finally:
            if process.poll() is None:
                _stop_group(process)
    seconds = time.monotonic() - started
    text = log_path.read_text(errors="replace")
    if code != 0:
        raise FlinkJobError(f"Flink job ({layout}) failed with exit code {code}; log {log_path}:\n{text[-3000:]}")
    reported = None
    for line in reversed(text.splitlines()):
        if line.startswith("{") and '"seconds"' in line:
            reported = float(json.loads(line)["seconds"])
            break
    return seconds, reported


def _stop_group(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class _Uploader:
    """Puts a local sink folder into S3 as Flink's S3 writer leaves it, job after job."""

    def __init__(self, client, bucket: str, layout: HourLayout, seed: int, byproducts: bool) -> None:
        self.client, self.bucket, self.layout, self.byproducts = client, bucket, layout, byproducts
        self.rng = random.Random(f"{seed}:flink-byproducts")
        self.seen: dict[Path, tuple[int, int]] = {}
        self.byproduct_folders: set[str] = set()

    def sync(self, local_root: Path, run: LanderRun) -> None:
        changed = []
        for path in sorted(p for p in local_root.rglob("*") if p.is_file()):
            stamp = (path.stat().st_mtime_ns, path.stat().st_size)
            if self.seen.get(path) != stamp:
                self.seen[path] = stamp
                changed.append(path)
        # Part files become visible at the checkpoint that finalises them; the marker comes after.
        changed.sort(key=lambda p: (p.name == SUCCESS_MARKER, str(p)))
        for path in changed:
            key = self.layout.root + path.relative_to(local_root).as_posix()
            self.client.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes())
            run.flink_keys.append(key)
            if path.name == SUCCESS_MARKER:
                run.success_writes[key] = run.success_writes.get(key, 0) + 1
            elif path.name.startswith("part-") and self.byproducts:
                self._add_byproducts(key, path.read_bytes(), run)

    def _add_byproducts(self, part_key: str, body: bytes, run: LanderRun) -> None:
        """Once per hour folder: a multipart temp object and a hidden in-progress file, with partial content."""
        folder, name = part_key.rsplit("/", 1)
        if folder in self.byproduct_folders:
            return
        self.byproduct_folders.add(folder)
        stem = name.split(".", 1)[0]
        in_progress = f".{stem}.inprogress.{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"
        temp = f"_{in_progress.lstrip('.')}_tmp_{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"
        partial = body[: max(1, len(body) // 3)]
        for object_name, content in ((temp, partial[: max(1, len(partial) // 2)]), (in_progress, partial)):
            key = f"{folder}/{object_name}"
            self.client.put_object(Bucket=self.bucket, Key=key, Body=content)
            run.byproduct_keys.append(key)


def land_with_flink(
    client,
    options: SimulationOptions,
    layout: Layout | str,
    work_dir: Path,
    *,
    late_hours: tuple[datetime, ...] = (),
    late_events: int = 1,
    extra_records: Sequence[KafkaRecord] = (),
    timeout: float = DEFAULT_JOB_TIMEOUT_SECONDS,
    byproducts: bool = True,
) -> LanderRun:
    """Feed the simulated stream of `options` to real Flink and put what it wrote into the bucket.

    `extra_records` reach the first job with the stream, each where its replication time puts it.
    """
    layout = Layout(layout)
    hour_layout = HourLayout(layout, options.prefix)
    work_dir.mkdir(parents=True, exist_ok=True)
    local_root = work_dir / f"sink-{layout.value}"
    shutil.rmtree(local_root, ignore_errors=True)
    local_root.mkdir()
    jar = bucket_assigner_jar(work_dir, flink_python()) if layout is Layout.PLAIN else None

    stream = [KafkaRecord.of(record) for record in event_stream(options)]
    # The stream is in arrival order; a stable sort puts each added record among it by its time.
    batches = [("events", sorted([*stream, *extra_records], key=lambda record: record.replicated_at_us))]
    late: list[KafkaRecord] = []
    for hour in late_hours:
        late += [KafkaRecord.of(record) for record in late_event_stream(options, hour, late_events)]
    if late:
        batches.append(("late events", late))

    run = LanderRun(layout.value, options.bucket, options.prefix)
    given: dict[datetime, list[int]] = defaultdict(list)
    given_values: dict[datetime, list[bytes]] = defaultdict(list)
    uploader = _Uploader(client, options.bucket, hour_layout, options.seed, byproducts)
    for number, (name, records) in enumerate(batches, 1):
        for record in records:
            if record.value is not None:
                given_values[record.hour].append(record.value)
            if (event_id := record.event_log_id) is not None:
                given[record.hour].append(event_id)
        input_path = work_dir / f"input-{layout.value}-{number}.jsonl"
        write_job_input(records, input_path)
        log_path = work_dir / f"job-{layout.value}-{number}.log"
        seconds, reported = run_flink_job(layout, input_path, local_root, log_path, jar=jar, timeout=timeout)
        run.jobs.append(JobRun(name, len(records), round(seconds, 3), reported, str(log_path)))
        uploader.sync(local_root, run)
    run.given = dict(sorted(given.items()))
    run.given_values = dict(sorted(given_values.items()))
    return run


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="python -m devstack.flink_lander", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", required=True, help="S3 endpoint, e.g. the local moto server")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--bucket", required=True, help="created when missing")
    parser.add_argument("--prefix", default="event_log")
    parser.add_argument("--layout", choices=[m.value for m in Layout], default=Layout.HIVE.value)
    parser.add_argument("--end-hour", required=True, help="first hour NOT landed, e.g. 2025-08-01T06:00Z")
    parser.add_argument("--hours", type=int, default=5)
    parser.add_argument("--events-per-hour", type=int, default=80)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--empty-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--late-hour", action="append", default=[], metavar="HOUR")
    parser.add_argument("--late-events", type=int, default=1, help="late events per re-opened hour")
    parser.add_argument("--work-dir", type=Path, default=REPO / "var" / "flink_lander")
    parser.add_argument("--timeout", type=float, default=DEFAULT_JOB_TIMEOUT_SECONDS, help="per Flink job, seconds")
    parser.add_argument("--no-byproducts", action="store_true", help="put only what Flink wrote")
    args = parser.parse_args(argv)

    options = SimulationOptions(
        bucket=args.bucket,
        prefix=args.prefix,
        seed=args.seed,
        end_hour=args.end_hour,
        hours=args.hours,
        events_per_hour=args.events_per_hour,
        empty_hours=tuple(args.empty_hour),
    )
    client = boto3.client("s3", endpoint_url=args.endpoint_url, region_name=args.region)
    try:
        client.head_bucket(Bucket=options.bucket)
    except client.exceptions.ClientError:
        client.create_bucket(Bucket=options.bucket)
    run = land_with_flink(
        client,
        options,
        args.layout,
        args.work_dir,
        late_hours=tuple(parse_hour(hour) for hour in args.late_hour),
        late_events=args.late_events,
        timeout=args.timeout,
        byproducts=not args.no_byproducts,
    )
    sys.stdout.write(json.dumps(run.as_dict(), indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
