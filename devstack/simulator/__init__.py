"""A seeded stand-in for the Flink job that lands the Dagster+ event log in S3.

It writes exactly the shape of ../shared/event-log-spec.md, in either layout of its section 2 (the
folder comes from include/event_log/land/hour_layout.py):

- `hive` (the default, what the package's lander writes with Flink's SQL filesystem sink):
  `<prefix>/dt=YYYY-MM-DD/hr=HH/` holding part files `part-<uuid>-<subtask>-<n>` without an extension
  (`.gz` when compressed), hidden in-progress files `.part-...inprogress.<uuid>`, multipart temp objects,
  and `_SUCCESS`; an empty hour gets no folder;
- `plain`: hourly folders `<prefix>/YYYY/MM/DD/HH/` holding finished part files
  `part-<uuid>-<subtask>-<n>.jsonl[.gz]` (one JSON record per line), objects a loader must never read
  (`part-...inprogress.<uuid>` and multipart `_<object>_tmp_<uuid>`), and `_SUCCESS` once the hour is
  committed; an empty hour is committed with `_SUCCESS` alone.

Everything is derived from `random.Random` seeded by the options, so the same options give byte-identical
objects. The modules, in the order the data flows:

- `options.py`: what to land (`SimulationOptions`), validated;
- `catalogue.py`: organizations, deployments, jobs, steps, assets and checks;
- `events.py`: the events of one Dagster run;
- `stream.py`: the hour each event lands in, late events, the records as Flink receives them;
- `records.py`: one record as one JSON line, its `event_log_id`;
- `writer.py`: part files, by-products and `_SUCCESS` in S3, dirt on request, late re-commits (`simulate`);
- `manifest.py`: what the writer says it wrote;
- `layout.py`: hours, folders and object names, shared by the writer and the reader;
- `reader.py`: an hour read back from S3 on its own (the tests' oracle), importing only `layout.py`;
- `cli.py` (with `__main__.py`): `python -m devstack.simulator --help`.

The names other code imports from `devstack.simulator` are re-exported here.
"""

from devstack.simulator.cli import main
from devstack.simulator.layout import (
    HOUR,
    MULTIPART_TMP_RE,
    SUCCESS_NAME,
    MalformedLine,
    classify_object,
    hour_prefix,
    parse_hour,
)
from devstack.simulator.manifest import HourManifest, LateRecommit, Manifest, PartFileManifest
from devstack.simulator.options import SimulationOptions
from devstack.simulator.reader import LandedHour, LandedLine, list_hour_keys, read_landed_events, read_landed_hour
from devstack.simulator.records import EVENT_TYPES, RECORD_FIELDS, event_log_id
from devstack.simulator.stream import StreamRecord, event_stream, late_event_stream
from devstack.simulator.writer import recommit_late, simulate

__all__ = [
    "EVENT_TYPES",
    "HOUR",
    "MULTIPART_TMP_RE",
    "RECORD_FIELDS",
    "SUCCESS_NAME",
    "HourManifest",
    "LandedHour",
    "LandedLine",
    "LateRecommit",
    "MalformedLine",
    "Manifest",
    "PartFileManifest",
    "SimulationOptions",
    "StreamRecord",
    "classify_object",
    "event_log_id",
    "event_stream",
    "hour_prefix",
    "late_event_stream",
    "list_hour_keys",
    "main",
    "parse_hour",
    "read_landed_events",
    "read_landed_hour",
    "recommit_late",
    "simulate",
]
