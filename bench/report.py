"""bench/results.json into words: the console summary, bench/README.md (rendered from bench/report.md.j2) and
(with matplotlib) PNG charts."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from bench import live

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "apache-airflow", "astronomer-cosmos", "dbt-core", "dbt-snowflake", "apache-airflow-providers-amazon",
    "apache-airflow-providers-snowflake", "snowflake-connector-python", "fakesnow", "duckdb", "moto", "s3fs",
)  # fmt: skip
MATPLOTLIB_PIN = "matplotlib==3.11.2"
TEMPLATE = "report.md.j2"
MIB = 2**20
STAGES = live.STAGES


def machine_and_versions() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )  # fmt: skip
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench  (.venv/bin/python -m bench.run)",
        # The run's settings that differ from the defaults (bench/run.py Settings), as the command was given.
        "bench_environment": " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_")),
        "machine": {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 2**20, 1),
            "os": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": versions,
        "git_commit": commit.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else ""),
    }


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def oracle_verdict(backfill: dict[str, Any], oracle: dict[str, Any] | None) -> bool | None:
    """Whether the models equal the oracle, where that is a verdict: only once every run of the backfill ended. The
    oracle holds every hour the raw table holds; when the box closed with runs unfinished, hours they loaded wait
    for the next build, and a difference is the unfinished work, not an error (the rows still show it)."""
    if oracle is None or backfill.get("runs_unfinished", 0):
        return None
    return bool(oracle["equal"])


def _backfill_row(label: str, b: dict[str, Any], oracle: dict[str, Any] | None) -> tuple[str, str, str, str]:
    differing = {m: v["differing"] for m, v in (oracle or {}).get("models", {}).items() if v["differing"]}
    models = "not compared" if oracle is None else ("equal" if oracle["equal"] else f"rows differ: {differing}")
    if oracle is not None and oracle_verdict(b, oracle) is None:
        models += f" (the box closed with {b['runs_unfinished']} runs unfinished: no verdict)"
    modeled = b["modeled_hours_per_minute"]
    return (
        f"{label}: {b['hours']} committed hours, `airflow backfill create`",
        f"modeled {_fmt(modeled, ' hours/min', 2)} ({b['hours_modeled']}/{b['hours']} in"
        f" {b['observed_seconds']:.0f} s),"
        f" loaded {_fmt(b['load_hours_per_minute'], ' hours/min', 2)}, first hour loaded after"
        f" {_fmt(b['first_hour_loaded_seconds'], ' s', 0)}; {b['dbt_builds']} dbt builds over {b['dbt_build_hours']}"
        f" hours; models vs oracle: {models}",
        f">= {b['target_hours_per_minute']} hours/min modeled; builds < hours; models = oracle",
        f"pace {_verdict(None if modeled is None else modeled >= b['target_hours_per_minute'])}, builds "
        f"{_verdict(0 < b['dbt_builds'] < b['hours'])}, models {_verdict(oracle_verdict(b, oracle))}",
    )


def figures(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, verdict) rows, in the issue's order."""
    rows = []
    parse = results.get("parse")
    if parse:
        worst = max(parse.values(), key=lambda r: r["median_parse_seconds"])
        worst_name = max(parse, key=lambda n: parse[n]["median_parse_seconds"])
        ingest = parse.get("event_log_ingest", {})
        rows.append((
            "Parse: slowest DAG file, median of "
            f"{worst['runs']} (dbt task group's share in event_log_ingest)",
            f"{worst_name} {worst['median_parse_seconds']:.3f} s "
            f"(task group {ingest.get('median_task_group_seconds', 0):.3f} s)",
            "every file < 0.5 s",
            _verdict(all(r["median_parse_seconds"] < r["target_seconds"] for r in parse.values())),
        ))  # fmt: skip
    load = results.get("load_efficiency")
    if load:
        rows.append((
            f"Load efficiency: COPY / floor, {load['lines']:,} events in {load['files']} files",
            f"{load['ratio']:.2f} ({load['copy_seconds']:.1f} s / {load['floor_seconds']:.1f} s)",
            f"<= {load['target_ratio']}",
            _verdict(load["ratio"] <= load["target_ratio"]),
        ))  # fmt: skip
    memory = results.get("worker_memory")
    if memory:
        peaks = " vs ".join(f"{v['peak_rss_bytes'] / MIB:.0f} MiB" for v in memory["sizes"].values())
        rows.append((
            "Worker memory: peak RSS of the load task, " + " vs ".join(memory["sizes"]),
            f"ratio {memory['ratio']:.2f} ({peaks})",
            f"<= {memory['target_ratio']}",
            _verdict(memory["ratio"] <= memory["target_ratio"]),
        ))  # fmt: skip
    fresh = results.get("freshness")
    if fresh:
        median = fresh["median_end_to_end_seconds"]
        bound = fresh["median_end_to_end_at_least_seconds"]
        complete = fresh["hours_modeled_in_box"] == fresh["hours"]
        if complete:
            measured = f"median {_fmt(median, ' s')}, max {_fmt(fresh['max_end_to_end_seconds'], ' s')}"
            ok = median < fresh["target_median_seconds"]
        else:
            measured = (
                f"median >= {bound:.0f} s over all {fresh['hours']} hours ({fresh['hours_modeled_in_box']} modeled "
                f"within the {fresh['box_seconds']} s box: median {_fmt(median, ' s')}, max "
                f"{_fmt(fresh['max_end_to_end_seconds'], ' s')}; the others still in dbt)"
            )
            ok = False if bound >= fresh["target_median_seconds"] else None
        measured += f"; loaded and checked: median {_fmt(fresh['median_loaded_seconds'], ' s')}"
        rows.append((
            "Freshness: `_SUCCESS` written -> last dbt task of the hour done",
            measured,
            f"median < {fresh['target_median_seconds']} s",
            _verdict(ok),
        ))  # fmt: skip
    for name, label in (("backfill", "Backfill"), ("long_backfill", "Long backfill")):
        if results.get(name):
            rows.append(_backfill_row(label, results[name], results.get(f"{name}_oracle")))
    waiting = results.get("waiting")
    if waiting:
        rows.append((
            f"Waiting cost: {waiting['hours_waiting']} hours waiting at once",
            f"{waiting['worker_slots_in_use']} worker slots; triggerer +"
            f"{waiting['triggerer_extra_bytes'] / MIB:.1f} MiB ({waiting['triggerer_rss_before_bytes'] / MIB:.0f} -> "
            f"{waiting['triggerer_rss_after_bytes'] / MIB:.0f} MiB)",
            "0 worker slots",
            _verdict(waiting["worker_slots_in_use"] == waiting["target_slots"]),
        ))  # fmt: skip
    return rows


def production_figures(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The freshness and backfill rows again, measured on the production-shaped stack."""
    production = results.get("production") or {}
    keys = ("freshness", "backfill", "backfill_oracle", "long_backfill", "long_backfill_oracle")
    rows = figures({key: production[key] for key in keys if key in production})
    return [(f"{figure} -- production-shaped stack", *rest) for figure, *rest in rows]


def summary(results: dict[str, Any]) -> str:
    lines = ["figure | measured | target | verdict", "--- | --- | --- | ---"]
    lines += [" | ".join(row) for row in figures(results) + production_figures(results)]
    if results.get("errors"):
        lines.append(f"\nCRASHED sections: {', '.join(results['errors'])} (tracebacks in results.json)")
    lines.append(f"\nTotal: {results.get('total_seconds', 0):.0f} s")
    return "\n".join(lines)


def write_charts(results: dict[str, Any], output: Path) -> list[str]:
    """PNG charts when matplotlib is installed; none (and no error) otherwise."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    fresh = results.get("freshness")
    if fresh:
        hours = list(fresh["per_hour"])
        fig, ax = plt.subplots(figsize=(9, 3.2))
        left = [0.0] * len(hours)
        for stage in STAGES:
            widths = [fresh["per_hour"][h]["stages_seconds"][stage] or 0 for h in hours]
            ax.barh([h[5:16] for h in hours], widths, left=left, label=stage)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.axvline(fresh["target_median_seconds"], color="black", linestyle="--", linewidth=1, label="target")
        ax.set_xlabel("seconds from _SUCCESS written")
        ax.set_title("Freshness: where each hour's time goes")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        fig.tight_layout()
        fig.savefig(output / "freshness.png", dpi=110)
        plt.close(fig)
        written.append("freshness.png")
    for name in ("backfill", "long_backfill"):
        backfill = results.get(name)
        if not backfill or not backfill["loaded_offsets_seconds"]:
            continue
        fig, ax = plt.subplots(figsize=(8, 3.2))
        for label, offsets in (
            ("hours loaded (check_hour done)", backfill["loaded_offsets_seconds"]),
            ("hours modeled (last model task done)", backfill["modeled_offsets_seconds"]),
        ):
            ax.step([0, *offsets], range(len(offsets) + 1), where="post", label=label)
        seconds = backfill["observed_seconds"]
        ax.plot([0, seconds], [0, backfill["target_hours_per_minute"] * seconds / 60], "k--", linewidth=1,
                label="target pace")  # fmt: skip
        ax.set_ylim(0, backfill["hours"] + 1)
        ax.set_xlabel("seconds after `airflow backfill create`")
        ax.set_ylabel("hours")
        ax.set_title(f"Backfill of {backfill['hours']} committed hours ({backfill['dbt_builds']} dbt builds)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(output / f"{name}.png", dpi=110)
        plt.close(fig)
        written.append(f"{name}.png")
    load = results.get("load_efficiency")
    if load:
        fig, ax = plt.subplots(figsize=(8, 2.4))
        names = ["floor: read lines", "localsnow read + parse", "COPY statement"]
        values = [load["floor_seconds"], load["read_and_classify_seconds"], load["copy_seconds"]]
        ax.barh(names, values, color=["#999999", "#6baed6", "#2171b5"])
        ax.axvline(load["floor_seconds"] * load["target_ratio"], color="black", linestyle="--", linewidth=1)
        ax.set_xlabel(f"seconds for {load['lines']:,} events (dashed: target, {load['target_ratio']} x floor)")
        fig.tight_layout()
        fig.savefig(output / "load_efficiency.png", dpi=110)
        plt.close(fig)
        written.append("load_efficiency.png")
    return written


def _parse_context(parse: dict[str, Any]) -> dict[str, Any]:
    first = next(iter(parse.values()))
    files = [
        {
            "name": name,
            "median_seconds": r["median_parse_seconds"],
            "max_seconds": r["max_parse_seconds"],
            # Only event_log_ingest renders a dbt task group; the others' figure would be a meaningless zero.
            "task_group_seconds": r["median_task_group_seconds"] if name == "event_log_ingest" else None,
            "cold_process_seconds": r["median_cold_process_seconds"],
            "verdict": _verdict(r["median_parse_seconds"] < r["target_seconds"]),
        }
        for name, r in parse.items()
    ]
    return {"runs": first["runs"], "cold_runs": first["cold_runs"], "files": files}


def _load_context(load: dict[str, Any], land_load_hours: dict[str, Any]) -> dict[str, Any]:
    parse_seconds = load["read_and_classify_seconds"] - load["floor_seconds"]
    rest_seconds = load["copy_seconds"] - load["read_and_classify_seconds"]
    large_bytes = land_load_hours.get("large_bytes")
    return {
        **load,
        "large_mb": large_bytes / 1e6 if large_bytes else None,
        "verdict": _verdict(load["ratio"] <= load["target_ratio"]),
        "over_target": load["ratio"] > load["target_ratio"],
        "parse_seconds": parse_seconds,
        "rest_seconds": rest_seconds,
        "added_seconds_per_million_events": (rest_seconds + parse_seconds) * 1e6 / max(load["lines"], 1),
    }


def _memory_context(memory: dict[str, Any]) -> dict[str, Any]:
    sizes = [
        {
            "label": label,
            "rows_loaded": v["rows_loaded"],
            "peak_mib": v["peak_rss_bytes"] / MIB,
            "seconds": v["seconds"],
        }
        for label, v in memory["sizes"].items()
    ]
    return {
        "imports_only_peak_mib": memory["imports_only_peak_rss_bytes"] / MIB,
        "sizes": sizes,
        "ratio": memory["ratio"],
        "target_ratio": memory["target_ratio"],
        "verdict": _verdict(memory["ratio"] <= memory["target_ratio"]),
    }


def _waiting_context(waiting: dict[str, Any]) -> dict[str, Any]:
    return {
        **waiting,
        "triggerer_before_mib": waiting["triggerer_rss_before_bytes"] / MIB,
        "triggerer_after_mib": waiting["triggerer_rss_after_bytes"] / MIB,
        "triggerer_extra_mib": waiting["triggerer_extra_bytes"] / MIB,
        "triggerer_extra_kib_per_hour": waiting["triggerer_extra_bytes_per_hour"] / 1024,
        "verdict": _verdict(waiting["worker_slots_in_use"] == waiting["target_slots"]),
    }


def _freshness_context(fresh: dict[str, Any]) -> dict[str, Any]:
    hours = [
        {
            "label": hour[:16].replace("T", " "),
            "stages_seconds": [t["stages_seconds"][stage] for stage in STAGES],
            "loaded_seconds": t["loaded_seconds"],
            "end_to_end_seconds": t["end_to_end_seconds"],
            "model_tasks_done": t["model_tasks_done"],
            "model_tasks": t["model_tasks"],
        }
        for hour, t in fresh["per_hour"].items()
    ]
    split = fresh.get("build_split_median_seconds") or {}
    unfinished = fresh["unfinished_at_least_seconds"]
    return {
        "hours_committed": fresh.get("hours_committed", fresh["hours"]),
        "hours_total": fresh["hours"],
        "box_seconds": fresh["box_seconds"],
        "target_median_seconds": fresh["target_median_seconds"],
        "hours": hours,
        "stage_median_seconds": [fresh["stage_median_seconds"].get(stage) for stage in STAGES],
        "median_loaded_seconds": fresh["median_loaded_seconds"],
        "median_end_to_end_seconds": fresh["median_end_to_end_seconds"],
        "max_end_to_end_seconds": fresh["max_end_to_end_seconds"],
        "hours_modeled_in_box": fresh["hours_modeled_in_box"],
        # An hour still in dbt when the box closed: the shortest time it was seen unfinished, and the bound it puts
        # on the median over every hour.
        "unfinished_for_at_least_seconds": min(unfinished) if unfinished else None,
        "median_end_to_end_at_least_seconds": fresh["median_end_to_end_at_least_seconds"],
        "until_build_starts_seconds": split.get("until_build_starts"),
        "build_running_seconds": split.get("build_running"),
    }


def _backfill_context(name: str, backfill: dict[str, Any], oracle: dict[str, Any] | None) -> dict[str, Any]:
    models = [
        {"name": model, "rows": v["rows"], "expected": v["expected"], "differing": v["differing"]}
        for model, v in (oracle or {}).get("models", {}).items()
    ]
    return {
        **backfill,
        "name": name,
        "chart": f"{name}.png",
        "oracle": {"verdict": _verdict(oracle_verdict(backfill, oracle)), "models": models} if oracle else None,
    }


FLOOR_COMPONENTS = ("scheduler", "worker-1", "worker-2", "triggerer", "dag-processor", "api-server")


def _floor_context(results: dict[str, Any]) -> dict[str, Any]:
    """The Airflow floor (bench/airflow_floor.py) per DAG, beside the ingest's own backfill on a stack of that mode."""
    floor = results["airflow_floor"]
    ingest = results.get("production", {}) if floor["mode"] == "production" else results
    rows = [
        {
            "dag_id": dag["dag_id"],
            "runs": f"{dag['runs_succeeded']}/{dag['hours']}",
            "runs_per_minute": dag["runs_per_minute"],
            "cpu_per_run": dag["cpu_seconds_per_run"],
            "components": ", ".join(
                f"{name} {dag['cpu_seconds'][name]:.0f}" for name in FLOOR_COMPONENTS if name in dag["cpu_seconds"]
            ),
        }
        for dag in floor["dags"]
    ]
    return {**floor, "rows": rows, "ingest_backfill": ingest.get("backfill")}


def _side_by_side_context(results: dict[str, Any]) -> dict[str, Any]:
    """The live figures of the embedded and the production-shaped stack, side by side."""
    production = results["production"]
    modes = {"embedded": results, "production-shaped": production}

    def figure(label: str, path: tuple[str, ...], unit: str = "", digits: int = 1) -> list[str]:
        cells = [label]
        for mode_results in modes.values():
            value: Any = mode_results
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            cells.append(("equal" if value else "DIFFERENT") if isinstance(value, bool) else _fmt(value, unit, digits))
        return cells

    rows = [
        ["Airflow", "SQLite, LocalExecutor (4 slots)", "PostgreSQL, CeleryExecutor, Redis, 2 workers x 2 slots"],
        figure("stack up and Snowflake objects created", ("section_seconds", "stack"), " s", 0),
        figure("waiting: worker slots in use", ("waiting", "worker_slots_in_use"), "", 0),
        figure("freshness: median end to end", ("freshness", "median_end_to_end_seconds"), " s"),
        figure("freshness: median loaded and checked", ("freshness", "median_loaded_seconds"), " s"),
        *[figure(f"freshness stage median: {s}", ("freshness", "stage_median_seconds", s), " s") for s in STAGES],
    ]
    for name in ("backfill", "long_backfill"):
        rows += [
            figure(f"{name}: hours", (name, "hours"), "", 0),
            figure(f"{name}: first hour loaded after", (name, "first_hour_loaded_seconds"), " s"),
            figure(f"{name}: hours loaded per minute", (name, "load_hours_per_minute"), "", 2),
            figure(f"{name}: hours modeled per minute", (name, "modeled_hours_per_minute"), "", 2),
            figure(f"{name}: dbt builds", (name, "dbt_builds"), "", 0),
            [f"{name}: models equal the oracle (runs ended)"]
            + [_oracle_cell(r.get(name), r.get(f"{name}_oracle")) for r in modes.values()],
        ]
    return {
        "budget_seconds": results.get("settings", {}).get("production_budget_seconds", "?"),
        "rows": rows,
        "section_seconds": production.get("section_seconds", {}),
    }


def _oracle_cell(backfill: dict[str, Any] | None, oracle: dict[str, Any] | None) -> str:
    if backfill is None or oracle is None:
        return "n/a"
    verdict = oracle_verdict(backfill, oracle)
    if verdict is None:
        return f"no verdict: {backfill['runs_unfinished']} runs unfinished"
    return "equal" if verdict else "DIFFERENT"


def report_context(results: dict[str, Any], charts: list[str]) -> dict[str, Any]:
    """Everything bench/report.md.j2 shows, computed from the results: figures, comparisons with the targets,
    verdicts. A section whose results are missing is None (the template leaves it out)."""
    meta = results["meta"]
    settings = results.get("settings", {})
    setting_names = (
        "backfill_hours", "budget_seconds", "long_backfill_hours", "long_events_per_hour",
        "long_backfill_box_seconds", "backfill_max_active_runs",
    )  # fmt: skip
    return {
        "meta": meta,
        "machine": meta["machine"],
        "command": meta["command"].split("(", 1)[1].rstrip(")"),
        "bench_environment": meta.get("bench_environment") or "",
        "versions": [(name, version) for name, version in meta["versions"].items() if version],
        "total_minutes": results.get("total_seconds", 0) / 60,
        "figures": [list(row) for row in figures(results) + production_figures(results)],
        "errors": list(results.get("errors") or {}),
        "charts": charts,
        "stages": STAGES,
        "parse": _parse_context(results["parse"]) if "parse" in results else None,
        "load": (
            _load_context(results["load_efficiency"], results.get("land_load_hours", {}))
            if "load_efficiency" in results
            else None
        ),
        "memory": _memory_context(results["worker_memory"]) if "worker_memory" in results else None,
        "freshness": _freshness_context(results["freshness"]) if "freshness" in results else None,
        "backfills": [
            _backfill_context(name, results[name], results.get(f"{name}_oracle"))
            for name in ("backfill", "long_backfill")
            if name in results
        ],
        "waiting": _waiting_context(results["waiting"]) if "waiting" in results else None,
        "floor": _floor_context(results) if "airflow_floor" in results else None,
        "side_by_side": _side_by_side_context(results) if results.get("production") else None,
        "settings": {name: settings.get(name, "?") for name in setting_names},
        "section_seconds": results.get("section_seconds", {}),
        "matplotlib_pin": MATPLOTLIB_PIN,
    }


@cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["fmt"] = _fmt
    environment.filters["thousands"] = lambda value: f"{value:,.0f}"
    return environment.get_template(TEMPLATE)


def readme(results: dict[str, Any], charts: list[str]) -> str:
    return _template().render(report_context(results, charts))
