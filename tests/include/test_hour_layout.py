"""The one module that owns the hour layout: folders, keys, object kinds, completion, Snowflake expressions.

Names below are the ones real Flink 1.20 wrote when run locally (SQL filesystem sink and DataStream
FileSink) and the ones its S3 writer leaves behind, written out here by hand.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pytest
import sqlglot

from include.event_log.land.hour_layout import (
    Completion,
    HourLayout,
    HourObjects,
    HourState,
    Layout,
    ObjectKind,
    checked_prefix,
    classify_object,
    hour_label,
    hour_start,
    hour_text,
    is_gzip,
    iter_hours,
)

H3 = datetime(2025, 8, 1, 3, tzinfo=UTC)
HOUR = timedelta(hours=1)
UUID = "5e9381fa-0789-4b6c-a199-ab612b5cdfdc"
UUID2 = "9cfbde3e-32a6-4ab2-bae3-f95b7762c2dd"

HIVE = HourLayout(Layout.HIVE, prefix="flink/event_log")
PLAIN = HourLayout(Layout.PLAIN, prefix="flink/event_log")
QUIET = HourLayout(
    Layout.PLAIN, prefix="event_log", completion=Completion.QUIET_PERIOD, quiet_period=timedelta(minutes=10)
)

LOADABLE = [
    f"part-{UUID}-0-0",  # SQL filesystem sink: no extension
    f"part-{UUID}-3-17",
    f"part-{UUID}-0",  # DataStream FileSink without a suffix
    f"part-{UUID}-12.jsonl",  # ... with the suffix the job configures
    f"part-{UUID}-0-1.json",
    f"part-{UUID}-0-1.ndjson",
    f"part-{UUID}-0-0.jsonl.gz",  # compressed
    f"part-{UUID}-0-0.gz",
    "part-0-0",  # older StreamingFileSink
]
BYPRODUCTS = [
    "_SUCCESS",
    f".part-{UUID}-0-0.inprogress.{UUID2}",  # hidden in-progress file of the SQL sink
    f"part-{UUID}-0-0.inprogress.{UUID2}",  # in-progress without the dot (older writers, copies)
    f"_part-{UUID}-0-0.inprogress.{UUID2}_tmp_{UUID2}",  # S3 recoverable writer's multipart temp object
    f"_.part-{UUID}-0-0.inprogress.{UUID2}_tmp_{UUID2}",
    f".part-{UUID}-0.jsonl.inprogress.{UUID2}",
    ".DS_Store",
    f"sub/.part-{UUID}-0-0.inprogress.{UUID2}",
    "sub/",  # a folder marker
]
UNEXPECTED = [
    "data.json",
    f"part-{UUID}-0-0.parquet",
    f"part-{UUID}-0-0.csv",
    "part-.jsonl",
    "_metadata",
    "_SUCCESS.txt",
    f"nested/part-{UUID}-0-0",  # Flink never writes nested folders: a file there must be reported
    f"dt=2025-08-01/hr=03/part-{UUID}-0-0",
    "PART-0-0",
]


@pytest.mark.parametrize("name", LOADABLE)
def test_finished_part_files_are_loadable(name):
    assert classify_object(name) is ObjectKind.LOADABLE


@pytest.mark.parametrize("name", BYPRODUCTS)
def test_flink_byproducts_are_never_loaded(name):
    assert classify_object(name) is ObjectKind.BYPRODUCT


@pytest.mark.parametrize("name", UNEXPECTED)
def test_anything_else_is_unexpected(name):
    assert classify_object(name) is ObjectKind.UNEXPECTED


def test_gzip_is_recognised_by_suffix():
    assert is_gzip(f"part-{UUID}-0-0.jsonl.gz") and is_gzip(f"part-{UUID}-0-0.gz")
    assert not is_gzip(f"part-{UUID}-0-0") and not is_gzip(f"part-{UUID}-0-0.jsonl")


def test_hour_objects_sorts_a_whole_folder():
    names = LOADABLE + BYPRODUCTS + UNEXPECTED + [LOADABLE[0]]
    objects = HourObjects.of(names)
    assert objects.loadable == tuple(sorted(LOADABLE))
    assert objects.byproducts == tuple(sorted(BYPRODUCTS))
    assert objects.unexpected == tuple(sorted(UNEXPECTED))
    assert objects.has_success and objects.exists
    assert not HourObjects.of([]).exists
    assert not HourObjects.of([f"part-{UUID}-0-0"]).has_success


@pytest.mark.parametrize(
    ("layout", "path"),
    [(HIVE, "dt=2025-08-01/hr=03/"), (PLAIN, "2025/08/01/03/")],
)
def test_hour_folder_of_each_layout(layout, path):
    assert layout.hour_path(H3) == path
    assert layout.hour_prefix(H3) == "flink/event_log/" + path
    assert layout.success_key(H3) == "flink/event_log/" + path + "_SUCCESS"
    assert layout.hour_uri("bucket", H3) == "s3://bucket/flink/event_log/" + path
    assert layout.hour_of_key(layout.hour_prefix(H3) + f"part-{UUID}-0-0") == H3
    assert layout.hour_of_key(layout.hour_prefix(H3)) == H3  # the folder itself
    assert layout.hour_of_key(layout.success_key(H3)) == H3


def test_hours_are_utc_whatever_the_input_zone():
    plus_two = datetime(2025, 8, 1, 5, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert HIVE.hour_path(plus_two) == "dt=2025-08-01/hr=05/"
    assert PLAIN.hour_path("2025-08-01T23:00:00-02:00") == "2025/08/02/01/"
    assert HIVE.hour_path(datetime(2025, 8, 1, 3)) == "dt=2025-08-01/hr=03/"  # naive is UTC
    with pytest.raises(ValueError, match="aligned"):
        HIVE.hour_path(datetime(2025, 8, 1, 3, 30, tzinfo=UTC))


def test_empty_prefix():
    layout = HourLayout(Layout.HIVE, prefix="/")
    assert layout.prefix == "" and layout.root == ""
    assert layout.hour_prefix(H3) == "dt=2025-08-01/hr=03/"
    assert layout.hour_of_key(f"dt=2025-08-01/hr=03/part-{UUID}-0-0") == H3


def test_keys_are_parsed_not_sliced():
    parsed = HIVE.parse_key(f"flink/event_log/dt=2025-08-01/hr=03/sub/part-{UUID}-0-0")
    assert parsed is not None and parsed.hour == H3 and parsed.name == f"sub/part-{UUID}-0-0"
    # Not this layout, not this prefix, not a real hour: no hour.
    assert HIVE.hour_of_key(f"flink/event_log/2025/08/01/03/part-{UUID}-0-0") is None
    assert PLAIN.hour_of_key(f"flink/event_log/dt=2025-08-01/hr=03/part-{UUID}-0-0") is None
    assert HIVE.hour_of_key(f"other/dt=2025-08-01/hr=03/part-{UUID}-0-0") is None
    assert HIVE.hour_of_key(f"flink/event_log_old/dt=2025-08-01/hr=03/part-{UUID}-0-0") is None
    assert HIVE.hour_of_key("flink/event_log/dt=2025-08-01/hr=24/x") is None
    assert PLAIN.hour_of_key("flink/event_log/2025/13/01/03/x") is None
    assert PLAIN.hour_of_key("flink/event_log/2025/02/30/03/x") is None
    assert HIVE.hour_of_key("flink/event_log/dt=2025-08-01/hr=3/x") is None
    assert PLAIN.hour_of_key("flink/event_log/2025/08/01/x") is None


def test_group_by_hour_and_day_prefixes():
    keys = [
        HIVE.hour_prefix(H3) + "_SUCCESS",
        HIVE.hour_prefix(H3) + f"part-{UUID}-0-0",
        HIVE.hour_prefix(H3 + HOUR) + f"part-{UUID}-0-1",
        "flink/event_log/README",
    ]
    hours, outside = HIVE.group_by_hour(keys)
    assert hours == {H3: ["_SUCCESS", f"part-{UUID}-0-0"], H3 + HOUR: [f"part-{UUID}-0-1"]}
    assert outside == ["flink/event_log/README"]
    assert HIVE.day_prefix(H3) == "flink/event_log/dt=2025-08-01/hr="
    assert PLAIN.day_prefix(H3 + timedelta(minutes=59)) == "flink/event_log/2025/08/01/"
    for layout in (HIVE, PLAIN):
        assert all(
            layout.hour_prefix(h).startswith(layout.day_prefix(H3))
            for h in iter_hours(H3.replace(hour=0), H3.replace(hour=23, minute=1))
        )
        assert not layout.hour_prefix(H3 + timedelta(days=1)).startswith(layout.day_prefix(H3))


def test_iter_hours_and_labels():
    assert list(iter_hours(H3 + timedelta(minutes=20), H3 + 3 * HOUR)) == [H3, H3 + HOUR, H3 + 2 * HOUR]
    assert list(iter_hours(H3, H3)) == []
    assert list(iter_hours("2025-08-01T23:00Z", "2025-08-02T01:00Z"))[-1] == datetime(2025, 8, 2, tzinfo=UTC)
    assert hour_label(H3) == "2025-08-01T03:00Z"
    assert hour_text(H3) == "2025-08-01 03:00 UTC"
    assert hour_start("2025-08-01T03:59:59Z", floor=True) == H3


def test_configuration_from_the_environment():
    default = HourLayout.from_env({})
    assert (default.layout, default.completion, default.prefix) == (Layout.HIVE, Completion.SUCCESS_FILE, "event_log")
    chosen = HourLayout.from_env(
        {
            "EVENT_LOG_LAYOUT": "plain",
            "EVENT_LOG_COMPLETION": "quiet_period",
            "EVENT_LOG_QUIET_PERIOD_SECONDS": "120",
            "EVENT_LOG_PREFIX": "/landing/events/",
        }
    )
    assert chosen == HourLayout(Layout.PLAIN, "landing/events", Completion.QUIET_PERIOD, timedelta(seconds=120))
    with pytest.raises(ValueError, match="EVENT_LOG_LAYOUT"):
        HourLayout.from_env({"EVENT_LOG_LAYOUT": "daily"})
    with pytest.raises(ValueError, match="EVENT_LOG_COMPLETION"):
        HourLayout.from_env({"EVENT_LOG_COMPLETION": "eventually"})
    with pytest.raises(ValueError, match="QUIET_PERIOD"):
        HourLayout.from_env({"EVENT_LOG_QUIET_PERIOD_SECONDS": "-1"})


@pytest.mark.parametrize(
    "prefix",
    [
        "{{ var.value.secret }}", "event_log/{% raw %}", "{# x #}", "logs/${EVENT_LOG_BUCKET}", "it's",
        'a"b', "a b", "a;b", "a\\b", "a//b", "../up", "a/./b", "a/../b", ".hidden", "x" * 513, "a@b", "a%20b",
        "event_log/\n", "-rf", "=x",
    ],
)  # fmt: skip
def test_a_prefix_that_could_render_as_jinja_or_break_out_is_refused_naming_the_setting(prefix):
    with pytest.raises(ValueError, match="EVENT_LOG_PREFIX may hold only"):
        HourLayout.from_env({"EVENT_LOG_PREFIX": prefix})
    with pytest.raises(ValueError, match="EVENT_LOG_PREFIX"):
        checked_prefix(prefix)


@pytest.mark.parametrize(
    ("prefix", "kept"),
    [("event_log", "event_log"), ("/landing/events/", "landing/events"),
     ("env=prod/v1.2/event-log", "env=prod/v1.2/event-log"), ("", ""), ("/", "")],
)  # fmt: skip
def test_a_plain_prefix_is_kept(prefix, kept):
    assert HourLayout.from_env({"EVENT_LOG_PREFIX": prefix}).prefix == kept == checked_prefix(prefix)


def test_a_layout_from_a_trigger_or_callback_dict_is_validated_too():
    values = HourLayout().as_dict() | {"prefix": "{{ macros.ds_add(ds, 1) }}"}
    with pytest.raises(ValueError, match="EVENT_LOG_PREFIX"):
        HourLayout.from_dict(values)


@pytest.mark.parametrize("layout", [HourLayout(Layout.HIVE), HourLayout(Layout.PLAIN)])
def test_an_hour_path_back_from_xcom_must_be_the_hours_own_folder(layout):
    assert layout.checked_hour_path(layout.hour_path(H3), H3.isoformat()) == layout.hour_path(H3)
    other_hour = layout.hour_path(H3 + timedelta(hours=1))
    for path in (
        other_hour,
        "dt=2025-08-01/hr=03/' FILES=('x')",
        "../secrets/",
        "",
        None,
        3,
        layout.hour_path(H3)[:-1],
    ):
        with pytest.raises(ValueError, match="is not the"):
            layout.checked_hour_path(path, H3)


# --- Completion ------------------------------------------------------------------------------------

PART = f"part-{UUID}-0-0"
NOW = H3 + timedelta(days=1)


def state(layout, folders, now=NOW, hour=H3):
    return layout.completion_of(hour, folders, now).state


def test_success_file_commits_the_hour():
    assert state(HIVE, {H3: [PART, "_SUCCESS"]}) is HourState.COMMITTED
    # Committed with no part file (other writers commit empty hours so): committed, 0 files to load.
    completion = HIVE.completion_of(H3, {H3: ["_SUCCESS"]}, NOW)
    assert completion.state is HourState.COMMITTED and completion.objects.loadable == ()
    # Part files but no marker: not yet, even long after, even when later hours are committed.
    assert state(HIVE, {H3: [PART], H3 + HOUR: [PART, "_SUCCESS"]}) is HourState.NOT_YET
    assert state(HIVE, {H3: [f".part-{UUID}-0-0.inprogress.{UUID2}"]}) is HourState.NOT_YET


def test_success_file_hour_without_folder_is_empty_once_a_later_hour_is_committed():
    assert state(HIVE, {}) is HourState.NOT_YET
    assert state(HIVE, {H3 - HOUR: [PART, "_SUCCESS"]}) is HourState.NOT_YET  # only earlier hours
    assert state(HIVE, {H3 + HOUR: [PART]}) is HourState.NOT_YET  # later hour not committed
    completion = HIVE.completion_of(H3, {H3 + 2 * HOUR: [PART, "_SUCCESS"]}, H3)
    assert completion.state is HourState.COMPLETE_EMPTY and "2025-08-01T05:00Z" in completion.reason
    assert completion.complete


def test_quiet_period_needs_a_later_finished_file_and_the_quiet_period():
    folders = {H3: [PART], H3 + HOUR: [PART]}
    end = H3 + HOUR
    assert state(QUIET, folders, now=end + timedelta(minutes=9)) is HourState.NOT_YET
    assert state(QUIET, folders, now=end + timedelta(minutes=10)) is HourState.COMMITTED
    # A later hour with only by-products (in-progress, temp objects) shows nothing.
    in_progress = {H3: [PART], H3 + HOUR: [f".part-{UUID}-0.inprogress.{UUID2}", f"_x_tmp_{UUID2}"]}
    assert state(QUIET, in_progress) is HourState.NOT_YET
    # Only earlier hours: not yet.
    assert state(QUIET, {H3: [PART], H3 - HOUR: [PART]}) is HourState.NOT_YET
    # The hour's own _SUCCESS means nothing to a quiet-period reader.
    assert state(QUIET, {H3: [PART, "_SUCCESS"]}) is HourState.NOT_YET


def test_quiet_period_hour_without_finished_files_is_complete_and_empty():
    later = {H3 + 3 * HOUR: [f"part-{UUID}-4.jsonl"]}
    assert state(QUIET, later) is HourState.COMPLETE_EMPTY
    assert state(QUIET, later | {H3: [f"_part-{UUID}-0_tmp_{UUID2}"]}) is HourState.COMPLETE_EMPTY
    assert state(QUIET, later, now=H3 + HOUR + timedelta(minutes=5)) is HourState.NOT_YET


def test_completion_reports_the_unexpected_objects_of_the_hour():
    completion = HIVE.completion_of(
        H3, {H3: [PART, "_SUCCESS", "notes.txt", f".part-{UUID}-0-1.inprogress.{UUID2}"]}, NOW
    )
    assert completion.state is HourState.COMMITTED
    assert completion.objects.loadable == (PART,)
    assert completion.objects.unexpected == ("notes.txt",)
    assert completion.objects.byproducts == (f".part-{UUID}-0-1.inprogress.{UUID2}", "_SUCCESS")


# --- Snowflake -------------------------------------------------------------------------------------


def evaluate(expression: str, filename: str):
    """The expression as the local Snowflake emulator runs it (sqlglot to DuckDB), on one file name."""
    sql = sqlglot.transpile(f"SELECT {expression}", read="snowflake", write="duckdb")[0]
    return duckdb.execute(sql.replace("METADATA$FILENAME", "?"), [filename]).fetchone()[0]


@pytest.mark.parametrize("layout", [HIVE, PLAIN, HourLayout(Layout.HIVE, prefix="")])
def test_replication_hour_expression_reads_the_hour_from_the_file_name(layout):
    expression = layout.replication_hour_expression()
    assert expression.count("METADATA$FILENAME") == 1
    for hour in (H3, datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2026, 1, 1, 0, tzinfo=UTC)):
        for relative in (layout.hour_path(hour), layout.hour_prefix(hour)):
            value = evaluate(expression, relative + f"part-{UUID}-0-0")
            assert value == hour.replace(tzinfo=None), (relative, value)


@pytest.mark.parametrize("layout", [HIVE, PLAIN])
def test_external_table_pattern_matches_exactly_the_loadable_names(layout):
    pattern = re.compile(layout.external_table_pattern())
    folder = layout.hour_prefix(H3)
    for name in LOADABLE:
        assert pattern.fullmatch(folder + name), name
    # An hour folder nested in an hour folder would match: Flink writes none, and the loader's own
    # listing (classify_object) reports it as unexpected.
    for name in BYPRODUCTS + [n for n in UNEXPECTED if not n.startswith("dt=")]:
        assert not pattern.fullmatch(folder + name), name
    other = HIVE if layout is PLAIN else PLAIN
    assert not pattern.fullmatch(other.hour_prefix(H3) + LOADABLE[0])
