"""When the events land: runs started hour by hour, each event in the hour of its landed time (so one run
spreads over several hour folders), late events for a re-committed hour, and the records as Flink receives
them (`event_stream`, `late_event_stream`), without the dirt the writer adds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter

from devstack.simulator.catalogue import Deployment, Job, RunContext, build_catalogue
from devstack.simulator.events import run_events, runless_observation
from devstack.simulator.layout import iso_hour, parse_hour
from devstack.simulator.options import SimulationOptions
from devstack.simulator.records import SECOND_US, event_log_id, render_line

_HOUR_US = 3_600_000_000
# The longest an event takes from creation to landing (back-pressure); the warm-up reaches this far back.
_MAX_LAG_US = 15 * 60 * SECOND_US


def _to_us(moment: datetime) -> int:
    return int(moment.timestamp()) * SECOND_US


class HourlyStream:
    """The main event stream of the landed hours, generated hour by hour in creation order."""

    def __init__(self, options: SimulationOptions, catalogue: list[Deployment]) -> None:
        self.options = options
        self.catalogue = catalogue
        self.deployment_weights = [sum(d.job_weights) for d in catalogue]
        self.window_start_us = _to_us(options.hour_starts[0])
        self.window_end_us = _to_us(options.end_hour)
        self.pending: list[list[tuple]] = [[] for _ in range(options.hours)]
        self.used_created: set[int] = set()
        self.runs_per_hour = self._calibrate()

    def _calibrate(self) -> int:
        """Runs per hour for the requested events per hour, from the mean size of sample runs."""
        if self.options.events_per_hour == 0:
            return 0
        rng = random.Random(f"{self.options.seed}:calibration")
        sizes = []
        for _ in range(300):
            deployment, job = self._pick_job(rng)
            sizes.append(len(run_events(random.Random(rng.getrandbits(64)), deployment, job, self.window_start_us)[1]))
        mean = sum(sizes) / len(sizes)
        return max(1, round(self.options.events_per_hour * 0.99 / mean))

    def _pick_job(self, rng: random.Random) -> tuple[Deployment, Job]:
        deployment = rng.choices(self.catalogue, self.deployment_weights)[0]
        return deployment, rng.choices(deployment.jobs, deployment.job_weights)[0]

    def warm_up(self) -> None:
        """Runs started before the first hour whose later events land in it (long runs, late lags)."""
        longest = max(job.max_us for d in self.catalogue for job in d.jobs) + _MAX_LAG_US
        for back in range(math.ceil(longest / _HOUR_US), 0, -1):
            self._generate_hour(self.window_start_us - back * _HOUR_US, warmup=True)

    def hour(self, index: int) -> list[tuple]:
        """The events that land in hour `index` of the window (after generating the runs started in it)."""
        self._generate_hour(self.window_start_us + index * _HOUR_US, warmup=False)
        events, self.pending[index] = self.pending[index], []
        return events

    def _generate_hour(self, hour_us: int, warmup: bool) -> None:
        rng = random.Random(f"{self.options.seed}:runs:{hour_us}")
        # Every run generated from now on starts in this hour, so no event can be created earlier.
        self.used_created = {u for u in self.used_created if u >= hour_us}
        starts = sorted(hour_us + rng.randrange(_HOUR_US) for _ in range(self.runs_per_hour))
        for start in starts:
            deployment, job = self._pick_job(rng)
            run_seed = rng.getrandbits(64)
            if warmup and start + job.max_us + _MAX_LAG_US < self.window_start_us:
                continue
            run_rng = random.Random(run_seed)
            ctx, events = run_events(run_rng, deployment, job, start)
            self._land(run_rng, ctx, events)
        if warmup:
            return
        # Observations of external assets reported outside any run (run_id null).
        for _ in range(round(self.options.events_per_hour * 0.01)):
            deployment = rng.choices(self.catalogue, self.deployment_weights)[0]
            event = runless_observation(rng, deployment, hour_us + rng.randrange(_HOUR_US))
            self._land(rng, deployment.runless, [event])

    def _land(self, rng: random.Random, ctx: RunContext, events: list[tuple]) -> None:
        used, pending = self.used_created, self.pending
        window_start, n_hours = self.window_start_us, self.options.hours
        missing = self.options.missing_landed_at_fraction
        rand, expovariate = rng.random, rng.expovariate
        for event in events:
            created = event[0]
            while created in used:
                created += 1
            used.add(created)
            if rand() < 0.003:  # back-pressure: minutes late
                landed = created + rng.randint(120 * SECOND_US, _MAX_LAG_US)
            else:
                landed = created + 150_000 + min(int(expovariate(0.4) * SECOND_US), 120 * SECOND_US)
            index = (landed - window_start) // _HOUR_US
            if 0 <= index < n_hours:
                pending[index].append((created, landed, rand() >= missing, ctx, *event[1:]))


def late_events(options: SimulationOptions, hour: datetime, count: int, pass_number: int) -> list[tuple]:
    """`count` events created inside `hour` that reach Flink after the hour's first commit."""
    catalogue = build_catalogue(options)
    weights = [sum(d.job_weights) for d in catalogue]
    rng = random.Random(f"{options.seed}:late:{iso_hour(hour)}:{pass_number}")
    hour_us = _to_us(hour)
    end_us = hour_us + _HOUR_US
    used: set[int] = set()
    out: list[tuple] = []
    while len(out) < count:
        deployment = rng.choices(catalogue, weights)[0]
        job = rng.choices(deployment.jobs, deployment.job_weights)[0]
        run_rng = random.Random(rng.getrandbits(64))
        ctx, events = run_events(run_rng, deployment, job, hour_us + rng.randrange(-1800, 3300) * SECOND_US)
        for event in events:
            created = event[0]
            # Created inside the hour: ids of different hours' late passes can never meet.
            if not hour_us <= created < end_us:
                continue
            while created in used:
                created += 1
            used.add(created)
            landed = min(end_us - 1, max(created + 150_000, hour_us + run_rng.randrange(_HOUR_US)))
            has_landed = run_rng.random() >= options.missing_landed_at_fraction
            out.append((created, landed, has_landed, ctx, *event[1:]))
            if len(out) == count:
                break
    return out


@dataclass(frozen=True)
class StreamRecord:
    """One record as the producer sends it to Flink, and when Flink receives it (its replication time)."""

    replicated_at_us: int
    event_log_id: int
    line: str

    @property
    def replicated_at(self) -> datetime:
        return datetime.fromtimestamp(self.replicated_at_us / SECOND_US, tz=UTC)

    @property
    def hour(self) -> datetime:
        return datetime.fromtimestamp(self.replicated_at_us // _HOUR_US * 3600, tz=UTC)


def event_stream(options: SimulationOptions) -> list[StreamRecord]:
    """The records of the hours of `options` as Flink receives them, in arrival order: what `simulate` lands
    in the hours' first commits, without the dirt a writer adds (no copies, no malformed lines, no
    truncation). Empty hours receive nothing. The same options give the same records as `simulate`."""
    stream = HourlyStream(options, build_catalogue(options))
    stream.warm_up()
    records: list[StreamRecord] = []
    for index, hour in enumerate(options.hour_starts):
        events = stream.hour(index)
        if hour in options.empty_hours:
            continue
        events.sort(key=itemgetter(0))
        events.sort(key=itemgetter(1))
        records += [StreamRecord(e[1], event_log_id(e[0]), render_line(e, 0)) for e in events]
    return records


def late_event_stream(
    options: SimulationOptions, hour: datetime | str, events: int | None = None, *, pass_number: int = 1
) -> list[StreamRecord]:
    """The late records `recommit_late` lands in `hour`, as Flink receives them after the hour's commit."""
    hour = parse_hour(hour)
    count = options.late_events_per_hour if events is None else events
    late = late_events(options, hour, count, pass_number)
    late.sort(key=itemgetter(0))
    late.sort(key=itemgetter(1))
    return [StreamRecord(e[1], event_log_id(e[0], pass_number), render_line(e, pass_number)) for e in late]
