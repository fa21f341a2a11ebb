"""The hour layout of the landed event log: one place decides where an hour lives, what in it is loadable,
and when it is complete (../shared/event-log-spec.md, section 2).

Pure Python: no Airflow, no network, nothing done at import. Chosen by configuration:

- `EVENT_LOG_LAYOUT`: `hive` (the default: what the lander this package ships, flink/lander.sql, writes
  with Flink's SQL filesystem sink, `dt=YYYY-MM-DD/hr=HH/`) or `plain` (`YYYY/MM/DD/HH/`, a DataStream
  FileSink with an hourly bucket assigner, or the simulator's default);
- `EVENT_LOG_COMPLETION`: `success_file` (the default: the hour's `_SUCCESS`) or `quiet_period` (sinks that
  write none: a later hour holds a finished part file and `EVENT_LOG_QUIET_PERIOD_SECONDS` have passed
  since the end of the hour);
- `EVENT_LOG_PREFIX`: the folder under the bucket that holds the hour folders, validated here (`checked_prefix`):
  it reaches S3 keys, the stage URL, the sensor's templated key and alert text, so only letters, digits and
  `_ . = -` in `/`-separated folders are accepted.

An hour path that comes back from XCom is checked against the layout (`checked_hour_path`) before it is rendered
into a COPY statement's stage path, the one place a path cannot be a bound value.

Both layouts are written from one template each; the key parser, the S3 prefixes, the Snowflake
`REPLICATION_HOUR` expression and the external table's file pattern are all derived from it.

Length (about 410 lines): both layouts and both completion signals, with their rules and error messages, are
one decision (where an hour lives and when it is complete) that every reader of S3 depends on; it is pure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

HOUR = timedelta(hours=1)
SUCCESS_MARKER = "_SUCCESS"
DEFAULT_QUIET_PERIOD = timedelta(minutes=15)
# The folder under the bucket that holds the hour folders, unless EVENT_LOG_PREFIX says otherwise.
DEFAULT_PREFIX = "event_log"


class Layout(StrEnum):
    HIVE = "hive"
    PLAIN = "plain"


class Completion(StrEnum):
    SUCCESS_FILE = "success_file"
    QUIET_PERIOD = "quiet_period"


class ObjectKind(StrEnum):
    """What an object in an hour folder is, for a loader."""

    LOADABLE = "loadable"  # a finished part file: load it
    BYPRODUCT = "byproduct"  # a known Flink by-product or the commit marker: never load, not an error
    UNEXPECTED = "unexpected"  # anything else: never load, and report it by name


class HourState(StrEnum):
    COMMITTED = "committed"  # load the hour's part files (there may be none: a count of 0 is reported)
    COMPLETE_EMPTY = "complete_empty"  # no folder (or no finished file) and a later hour shows it is over
    NOT_YET = "not_yet"  # wait


# Each layout's hour folder, relative to the prefix. The fields are the zero-padded UTC hour parts.
TEMPLATES: dict[Layout, str] = {
    Layout.HIVE: "dt={year}-{month}-{day}/hr={hour}/",
    Layout.PLAIN: "{year}/{month}/{day}/{hour}/",
}
_FIELD_WIDTHS = {"year": 4, "month": 2, "day": 2, "hour": 2}
_FIELD = re.compile(r"\{(year|month|day|hour)\}")

# A folder of EVENT_LOG_PREFIX: no Jinja (`{`, `%`, `#`), quotes, spaces, `;`, backslash, `@` or `$`; never `.`/`..`.
_PREFIX_FOLDER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=-]*")
MAX_PREFIX_LENGTH = 512

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# A finished part file as Flink names them: the SQL filesystem sink `part-<uuid>-<subtask>-<n>` (no
# extension), a DataStream FileSink `part-<uuid>-<n>` plus its configured suffix, older sinks
# `part-<subtask>-<n>`; a JSON-lines suffix and `.gz` (compressed) are recognised.
PART_FILE = re.compile(rf"part-(?:{_UUID}-)?\d+(?:-\d+)?(?P<suffix>\.(?:json|jsonl|ndjson))?(?P<gzip>\.gz)?")
# The S3 recoverable writer's multipart temp objects: `_<object name>_tmp_<uuid>`.
_MULTIPART_TMP = re.compile(r"_.+_tmp_[0-9a-f-]+")


def utc(value: datetime | str) -> datetime:
    """A timezone-aware UTC datetime from a datetime or ISO-8601 text; naive means UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)


def hour_start(value: datetime | str, *, floor: bool = False) -> datetime:
    """The UTC hour that starts at `value`; with floor=True, the hour that contains it."""
    moment = utc(value)
    start = moment.replace(minute=0, second=0, microsecond=0)
    if start != moment and not floor:
        raise ValueError(f"not aligned to the hour: {moment.isoformat()}")
    return start


def iter_hours(start: datetime | str, end: datetime | str) -> Iterator[datetime]:
    """The hour starts in [start, end), start rounded down to its hour."""
    hour, end = hour_start(start, floor=True), utc(end)
    while hour < end:
        yield hour
        hour += HOUR


def checked_prefix(prefix: str, setting: str = "EVENT_LOG_PREFIX") -> str:
    """The prefix without surrounding `/`, refused (naming the setting) unless every folder of it is letters, digits
    and `_ . = -` not starting with `.`, `=` or `-`: nothing that renders as Jinja, breaks out of a quoted stage URL
    or a SQL string, or walks up a folder. An empty prefix (hours at the bucket's root) is allowed."""
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    if len(stripped) > MAX_PREFIX_LENGTH or not all(_PREFIX_FOLDER.fullmatch(f) for f in stripped.split("/")):
        raise ValueError(
            f"{setting} may hold only letters, digits and _ . = - in /-separated folders (at most "
            f"{MAX_PREFIX_LENGTH} characters, no empty folder, none starting with . = or -), got {prefix!r}"
        )
    return stripped


def hour_label(hour: datetime) -> str:
    """`2025-08-01T03:00Z`: an hour in messages, findings and commands."""
    return f"{utc(hour):%Y-%m-%dT%H:%MZ}"


def hour_text(hour: datetime) -> str:
    """`2025-08-01 03:00 UTC`: an hour in alert subjects and bodies."""
    return f"{utc(hour):%Y-%m-%d %H:00} UTC"


def classify_object(name: str) -> ObjectKind:
    """What an object of an hour folder is, from its name relative to the folder (nested paths included).

    Loadable: a finished part file directly in the folder. By-products (never loaded, never an error):
    `_SUCCESS`, hidden `.`-files (in-progress part files), names holding `.inprogress`, multipart temp
    objects `_…_tmp_<uuid>`, and folder markers (a key ending in `/`). Everything else is unexpected,
    including a part file in a nested folder, which Flink never writes.
    """
    if name == "" or name.endswith("/"):
        return ObjectKind.BYPRODUCT
    base = name.rsplit("/", 1)[-1]
    if base == SUCCESS_MARKER or base.startswith(".") or ".inprogress" in base or _MULTIPART_TMP.fullmatch(base):
        return ObjectKind.BYPRODUCT
    if "/" not in name and PART_FILE.fullmatch(base):
        return ObjectKind.LOADABLE
    return ObjectKind.UNEXPECTED


def is_loadable(name: str) -> bool:
    return classify_object(name) is ObjectKind.LOADABLE


def is_gzip(name: str) -> bool:
    return name.endswith(".gz")


@dataclass(frozen=True)
class HourObjects:
    """An hour folder's object names (relative to the folder), sorted by what they are."""

    loadable: tuple[str, ...] = ()
    byproducts: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    has_success: bool = False

    @classmethod
    def of(cls, names: Iterable[str]) -> HourObjects:
        kinds: dict[ObjectKind, list[str]] = {kind: [] for kind in ObjectKind}
        names = sorted(set(names))
        for name in names:
            kinds[classify_object(name)].append(name)
        return cls(
            loadable=tuple(kinds[ObjectKind.LOADABLE]),
            byproducts=tuple(kinds[ObjectKind.BYPRODUCT]),
            unexpected=tuple(kinds[ObjectKind.UNEXPECTED]),
            has_success=SUCCESS_MARKER in names,
        )

    @property
    def exists(self) -> bool:
        return bool(self.loadable or self.byproducts or self.unexpected)


@dataclass(frozen=True)
class HourCompletion:
    hour: datetime
    state: HourState
    reason: str
    objects: HourObjects = field(default_factory=HourObjects)

    @property
    def complete(self) -> bool:
        return self.state is not HourState.NOT_YET

    def as_dict(self) -> dict[str, str]:
        """What the sensor hands the load (XCom): the hour, whether it is committed or empty, and why."""
        return {"hour": self.hour.isoformat(), "state": self.state.value, "reason": self.reason}


@dataclass(frozen=True)
class KeyInHour:
    hour: datetime
    name: str  # relative to the hour folder; may hold `/` (a nested object)


@dataclass(frozen=True)
class HourLayout:
    """Where the hours of one S3 prefix live and when each is complete."""

    layout: Layout = Layout.HIVE
    prefix: str = "event_log"
    completion: Completion = Completion.SUCCESS_FILE
    quiet_period: timedelta = DEFAULT_QUIET_PERIOD

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", Layout(self.layout))
        object.__setattr__(self, "completion", Completion(self.completion))
        object.__setattr__(self, "prefix", checked_prefix(self.prefix))
        if self.quiet_period < timedelta(0):
            raise ValueError(f"the quiet period must not be negative, got {self.quiet_period}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HourLayout:
        env = os.environ if env is None else env
        layout = env.get("EVENT_LOG_LAYOUT", Layout.HIVE.value).strip().lower()
        completion = env.get("EVENT_LOG_COMPLETION", Completion.SUCCESS_FILE.value).strip().lower()
        if layout not in Layout.__members__.values():
            raise ValueError(f"EVENT_LOG_LAYOUT must be one of {[m.value for m in Layout]}, got {layout!r}")
        if completion not in Completion.__members__.values():
            raise ValueError(f"EVENT_LOG_COMPLETION must be one of {[m.value for m in Completion]}, got {completion!r}")
        # Imported here: config imports this module (it builds the layout from the same environment).
        from include.event_log.config import env_seconds

        quiet = env_seconds("EVENT_LOG_QUIET_PERIOD_SECONDS", DEFAULT_QUIET_PERIOD.total_seconds(), env=env)
        prefix = env.get("EVENT_LOG_PREFIX", DEFAULT_PREFIX)
        return cls(Layout(layout), prefix, Completion(completion), timedelta(seconds=quiet))

    def as_dict(self) -> dict[str, object]:
        """Plain values (a trigger's or a callback's kwargs); `from_dict` reads them back."""
        return {
            "layout": self.layout.value,
            "prefix": self.prefix,
            "completion": self.completion.value,
            "quiet_period_seconds": self.quiet_period.total_seconds(),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> HourLayout:
        return cls(
            Layout(str(values["layout"])),
            str(values["prefix"]),
            Completion(str(values["completion"])),
            timedelta(seconds=float(values["quiet_period_seconds"])),  # type: ignore[arg-type]
        )

    # --- Folders and keys -------------------------------------------------------------------------

    @property
    def template(self) -> str:
        return TEMPLATES[self.layout]

    @property
    def root(self) -> str:
        """The key prefix of every hour folder: `<prefix>/`, or nothing when the prefix is empty."""
        return f"{self.prefix}/" if self.prefix else ""

    def hour_path(self, hour: datetime) -> str:
        """The hour's folder relative to the stage root, e.g. `dt=2025-08-01/hr=03/` or `2025/08/01/03/`."""
        hour = hour_start(hour)
        return self.template.format(
            year=f"{hour.year:04d}", month=f"{hour.month:02d}", day=f"{hour.day:02d}", hour=f"{hour.hour:02d}"
        )

    def hour_prefix(self, hour: datetime) -> str:
        """The hour's folder as an S3 key prefix: `<prefix>/<hour path>`."""
        return self.root + self.hour_path(hour)

    def checked_hour_path(self, path: object, hour: datetime | str) -> str:
        """`path` when it is exactly the folder of `hour` in this layout (e.g. read back from XCom), else ValueError:
        it is rendered into a COPY's stage path, which Snowflake does not take as a bound value."""
        expected = self.hour_path(hour_start(hour))
        if path != expected:
            raise ValueError(f"hour path {path!r} is not the {self.layout.value} folder of hour {hour}: {expected!r}")
        return expected

    def hour_uri(self, bucket: str, hour: datetime) -> str:
        return f"s3://{bucket}/{self.hour_prefix(hour)}"

    def success_key(self, hour: datetime) -> str:
        return self.hour_prefix(hour) + SUCCESS_MARKER

    def day_prefix(self, day: datetime) -> str:
        """The key prefix that holds every hour folder of a UTC day (one listing per day)."""
        day = hour_start(day, floor=True)
        head = self.template[: self.template.index("{hour}")]
        return self.root + head.format(year=f"{day.year:04d}", month=f"{day.month:02d}", day=f"{day.day:02d}")

    def _path_regex(self) -> re.Pattern[str]:
        pattern, position = "", 0
        for match in _FIELD.finditer(self.template):
            pattern += re.escape(self.template[position : match.start()])
            pattern += rf"(?P<{match[1]}>\d{{{_FIELD_WIDTHS[match[1]]}}})"
            position = match.end()
        return re.compile(pattern + re.escape(self.template[position:]) + r"(?P<name>.*)", re.DOTALL)

    def parse_key(self, key: str) -> KeyInHour | None:
        """The hour and the name inside its folder of an S3 key under this prefix; None when the key is
        not inside an hour folder of this layout (or names an hour that does not exist, like hr=24)."""
        if not key.startswith(self.root):
            return None
        match = self._path_regex().fullmatch(key[len(self.root) :])
        if match is None:
            return None
        try:
            hour = datetime(int(match["year"]), int(match["month"]), int(match["day"]), int(match["hour"]), tzinfo=UTC)
        except ValueError:
            return None
        return KeyInHour(hour, match["name"])

    def hour_of_key(self, key: str) -> datetime | None:
        """The replication hour of a key (an object in an hour folder, or the folder's own prefix)."""
        parsed = self.parse_key(key)
        return parsed.hour if parsed else None

    def group_by_hour(self, keys: Iterable[str]) -> tuple[dict[datetime, list[str]], list[str]]:
        """Keys by hour (names relative to the hour folder), and the keys outside any hour folder."""
        hours: dict[datetime, list[str]] = {}
        outside: list[str] = []
        for key in keys:
            parsed = self.parse_key(key)
            if parsed is None:
                outside.append(key)
            else:
                hours.setdefault(parsed.hour, []).append(parsed.name)
        return hours, outside

    # --- Snowflake ---------------------------------------------------------------------------------

    def _snowflake_folder_regex(self) -> tuple[str, list[str]]:
        """The folder template as a POSIX regex with one capture group per field, and the fields in order."""
        pattern, position, order = "", 0, []
        for match in _FIELD.finditer(self.template):
            pattern += _posix_escape(self.template[position : match.start()])
            pattern += f"([0-9]{{{_FIELD_WIDTHS[match[1]]}}})"
            order.append(match[1])
            position = match.end()
        return pattern + _posix_escape(self.template[position:]), order

    def replication_hour_expression(self) -> str:
        """The external table's REPLICATION_HOUR: a Snowflake expression over METADATA$FILENAME."""
        folder, order = self._snowflake_folder_regex()
        group = {name: order.index(name) + 1 for name in order}
        replacement = f"\\\\{group['year']}-\\\\{group['month']}-\\\\{group['day']} \\\\{group['hour']}"
        return (
            f"TO_TIMESTAMP_NTZ(REGEXP_REPLACE(METADATA$FILENAME, '^.*{folder}[^/]+$', '{replacement}'), "
            "'YYYY-MM-DD HH24')"
        )

    def external_table_pattern(self) -> str:
        """The external table's PATTERN: the loadable part files directly inside an hour folder."""
        folder, _ = self._snowflake_folder_regex()
        uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        return f".*{folder}part-({uuid}-)?[0-9]+(-[0-9]+)?([.](json|jsonl|ndjson))?([.]gz)?"

    # --- Completion --------------------------------------------------------------------------------

    def completion_of(self, hour: datetime, folders: Mapping[datetime, Iterable[str]], now: datetime) -> HourCompletion:
        """Whether `hour` can be loaded, from the listing of its folder and of later hours, at `now`.

        `folders` maps hour starts to the object names of each hour folder that exists (names relative to
        the folder); an hour absent from it has no folder. Only hours after `hour` matter besides itself.

        - success_file: the hour's `_SUCCESS` commits it (even with no part file: other writers commit empty
          hours so). Without a folder, it is complete and empty once a later hour is committed: Flink's SQL
          sink writes no folder for an hour without events, and commits hours in watermark order.
        - quiet_period: complete once a later hour holds a finished part file and the quiet period has
          passed since the end of the hour; then committed if it holds finished part files, else empty.
        """
        hour, now = hour_start(hour), utc(now)
        objects = HourObjects.of(folders.get(hour, ()))
        later = {h: HourObjects.of(names) for h, names in folders.items() if utc(h) > hour}
        if self.completion is Completion.SUCCESS_FILE:
            if objects.has_success:
                return HourCompletion(hour, HourState.COMMITTED, f"{SUCCESS_MARKER} present", objects)
            committed_later = sorted(h for h, o in later.items() if o.has_success)
            if objects.exists:
                return HourCompletion(hour, HourState.NOT_YET, f"folder present, no {SUCCESS_MARKER} yet", objects)
            if committed_later:
                return HourCompletion(
                    hour,
                    HourState.COMPLETE_EMPTY,
                    f"no folder, and the later hour {hour_label(committed_later[0])} is committed",
                    objects,
                )
            return HourCompletion(hour, HourState.NOT_YET, "no folder, and no later hour committed yet", objects)

        quiet_until = hour + HOUR + self.quiet_period
        finished_later = sorted(h for h, o in later.items() if o.loadable)
        if not finished_later:
            return HourCompletion(hour, HourState.NOT_YET, "no later hour has a finished part file yet", objects)
        if now < quiet_until:
            return HourCompletion(
                hour, HourState.NOT_YET, f"quiet period runs until {quiet_until.isoformat()}", objects
            )
        reason = f"the later hour {hour_label(finished_later[0])} has finished part files and the quiet period passed"
        state = HourState.COMMITTED if objects.loadable else HourState.COMPLETE_EMPTY
        return HourCompletion(hour, state, reason, objects)


def _posix_escape(text: str) -> str:
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)
