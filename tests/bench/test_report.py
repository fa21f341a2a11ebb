"""bench/README.md rendered from bench/report.md.j2: the template's conditionals, for a target met and missed."""

from __future__ import annotations

import pytest

from bench import report

META = {
    "date": "2026-11-21T05:19:52+00:00",
    "command": "make bench  (.venv/bin/python -m bench.run)",
    "machine": {"cpu": "AMD EPYC", "cores": 2, "memory_gib": 23.5, "os": "Linux", "load_average_at_start": [1.5]},
    "versions": {"python": "3.11.7", "duckdb": None},
    "git_commit": "abc1234",
}


def results(copy_seconds: float, equal: bool | None, modeled_per_minute: float = 30.0) -> dict:
    """A load efficiency measurement (floor 4 s, target 1.3 x floor) and a backfill (target 30 hours modeled a
    minute) with its oracle (compared and equal, compared and different, or not compared)."""
    backfill = {
        "hours": 24, "max_active_runs": 24, "box_seconds": 400, "observed_seconds": 120.4,
        "backfill_create_attempts": 1, "hours_loaded": 24, "hours_modeled": 24, "runs_unfinished": 0,
        "runs_failed": 0, "first_load_done_seconds": 20.0, "first_hour_loaded_seconds": 25.04,
        "minutes_to_load_all": 1.5, "minutes_to_model_all": 2.0, "load_hours_per_minute": 16.0,
        "modeled_hours_per_minute": modeled_per_minute, "dbt_builds": 3, "dbt_build_hours": 24, "dbt_builds_failed": 0,
        "target_hours_per_minute": 30,
    }  # fmt: skip
    load = {
        "files": 8, "lines": 1_000_000, "repeats": 2, "floor_seconds": 4.0, "read_and_classify_seconds": 4.5,
        "copy_seconds": copy_seconds, "delete_seconds": 0.01, "commit_seconds": 0.07,
        "ratio": round(copy_seconds / 4.0, 2), "target_ratio": 1.3, "all_floor_seconds": [4.0, 4.0],
        "all_read_and_classify_seconds": [4.5, 4.5], "all_copy_seconds": [copy_seconds, copy_seconds],
    }  # fmt: skip
    oracle = {"equal": equal, "models": {"fct_events": {"rows": 2400, "expected": 2400 + (not equal), "differing": 1}}}
    return {
        "meta": META,
        "settings": {"backfill_hours": 24},
        "errors": {},
        "section_seconds": {"load_efficiency": 30.2, "backfill": 120.6},
        "load_efficiency": load,
        "backfill": backfill,
        **({"backfill_oracle": oracle} if equal is not None else {}),
        "total_seconds": 600,
    }


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def test_target_met():
    text = report.readme(results(copy_seconds=5.0, equal=True), charts=["load_efficiency.png", "backfill.png"])
    lines = lines_of(text)
    assert (
        "| Load efficiency: COPY / floor, 1,000,000 events in 8 files | 1.25 (5.0 s / 4.0 s) | <= 1.3 | met |" in lines
    )
    assert "**Ratio: 1.25** (target <= 1.3: met)." in lines
    assert "Where the COPY's time goes" not in text
    assert "![load efficiency](load_efficiency.png)" in lines
    assert (
        "Models against the oracle (every hour the raw table holds, computed from its files in S3): **met**." in lines
    )
    assert "| `fct_events` | 2,400 | 2,400 | 1 |" in lines
    assert "![backfill](backfill.png)" in lines
    assert "pace met, builds met, models met" in text
    assert (
        "| hours modeled; minutes to model all; **hours per minute** | 24/24; 2.00 min; **30.00** (target >= 30) |"
        in lines
    )
    assert "- **Versions**: python 3.11.7" in lines
    assert "**Crashed sections**" not in text
    assert "Charts are skipped" not in text
    assert text.endswith("they are not production latencies.\n")


def test_target_missed():
    text = report.readme(results(copy_seconds=8.0, equal=False, modeled_per_minute=12.0), charts=[])
    lines = lines_of(text)
    assert (
        "| Load efficiency: COPY / floor, 1,000,000 events in 8 files | 2.00 (8.0 s / 4.0 s) | <= 1.3 | MISSED |"
        in lines
    )
    assert "**Ratio: 2.00** (target <= 1.3: MISSED)." in lines
    # (copy - floor) = 4 s over a million events: 0.5 s parsing, 3.5 s for the rest.
    assert "Where the COPY's time goes: reading the lines 4.0 s (the floor), parsing each line once" in lines
    assert "as JSON 0.5 s, and 3.5 s for the rest: the `INSERT ... SELECT` that writes six columns per row" in lines
    assert "4.0 s per million events on top of reading them." in lines
    assert (
        "Models against the oracle (every hour the raw table holds, computed from its files in S3): **MISSED**."
        in lines
    )
    assert "| `fct_events` | 2,400 | 2,401 | 1 |" in lines
    assert "pace MISSED, builds met, models MISSED" in text
    assert (
        "| hours modeled; minutes to model all; **hours per minute** | 24/24; 2.00 min; **12.00** (target >= 30) |"
        in lines
    )
    assert "![" not in text
    assert lines[-1].startswith("Charts are skipped: matplotlib is not installed. With `matplotlib==")
    assert text.endswith("long_backfill.png and load_efficiency.png.\n")


@pytest.mark.parametrize("errors", [{}, {"waiting": "Traceback ...", "stop": "Traceback ..."}])
def test_sections_without_results_are_left_out(errors):
    minimal = {"meta": META, "settings": {}, "errors": errors}
    lines = lines_of(report.readme(minimal, charts=[]))
    titles = [line for line in lines if line.startswith("## ")]
    assert titles == ["## Figures", "## How the run is laid out, and what it does not measure"]
    assert "Models against the oracle: not compared (crashed or skipped)." not in lines
    crashed = "**Crashed sections** (tracebacks in results.json): `waiting`, `stop`"
    if errors:
        # Right under the figures table, the next section's title on the line after it.
        assert lines[lines.index(crashed) + 1] == "## How the run is laid out, and what it does not measure"
    else:
        assert crashed not in lines


def test_backfill_not_compared():
    lines = lines_of(report.readme(results(copy_seconds=5.0, equal=None), charts=[]))
    assert "Models against the oracle: not compared (crashed or skipped)." in lines


def test_an_unfinished_backfill_gives_the_oracle_no_verdict():
    unfinished = results(copy_seconds=5.0, equal=False)
    unfinished["backfill"].update(hours_modeled=9, runs_unfinished=15, modeled_hours_per_minute=4.0)
    text = report.readme(unfinished, charts=[])
    lines = lines_of(text)
    assert "pace MISSED, builds met, models n/a" in text
    assert "rows differ: {'fct_events': 1} (the box closed with 15 runs unfinished: no verdict)" in text
    assert (
        "Models against the oracle (every hour the raw table holds, computed from its files in S3): **n/a**." in lines
    )
    assert "The box closed with 15 runs unfinished: the hours they loaded wait for the next build, so" in lines


def test_the_airflow_floor_is_shown_beside_the_ingests_backfill():
    floor_dag = {
        "dag_id": "floor_ingest_shape", "hours": 24, "runs_succeeded": 24, "seconds_to_last_run": 56.4,
        "runs_per_minute": 25.52, "cpu_seconds_total": 46.4, "cpu_seconds_per_run": 1.93,
        "cpu_seconds": {"s3": 0.0, "scheduler": 17.6, "worker-1": 5.3, "worker-2": 5.9, "triggerer": 5.7},
    }  # fmt: skip
    floor = {"mode": "embedded", "hours": 24, "box_seconds": 300, "sizing": {}, "dags": [floor_dag]}
    text = report.readme({**results(copy_seconds=5.0, equal=True, modeled_per_minute=6.5), "airflow_floor": floor}, [])
    lines = lines_of(text)
    assert "## The Airflow floor under the backfill" in lines
    assert (
        "| `floor_ingest_shape` | 24/24 | **25.52** | 1.93 s | scheduler 18, worker-1 5, worker-2 6, triggerer 6 |"
        in lines
    )
    # The ingest's own figure, from the backfill of the stack of the floor's mode (embedded here).
    assert "event_log_ingest on a stack of the same mode: 6.50 hours a" in lines


def test_the_command_names_the_settings_the_run_was_given():
    meta = {**META, "bench_environment": "BENCH_LONG_BACKFILL_HOURS=0"}
    lines = lines_of(report.readme({"meta": meta, "settings": {}, "errors": {}}, charts=[]))
    assert any(
        line.startswith("- **Command**: `cd /work/main && BENCH_LONG_BACKFILL_HOURS=0 make bench`;") for line in lines
    )
    lines = lines_of(report.readme({"meta": META, "settings": {}, "errors": {}}, charts=[]))
    assert any(line.startswith("- **Command**: `cd /work/main && make bench`;") for line in lines)
