"""Per-hour states of the Event log page, from rows shaped like the warehouse's and S3 commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from include.event_log.glass.hour_states import hour_states, run_href, window
from include.event_log.land.s3_commits import HourCommit

H = timedelta(hours=1)
NOW = datetime(2025, 8, 1, 8, 20, tzinfo=UTC)
H3, H4, H5, H6, H7, H8 = (datetime(2025, 8, 1, h, tzinfo=UTC) for h in range(3, 9))


def run(hour: datetime) -> str:
    return f"scheduled__{hour.isoformat()}"


def commit(hour: datetime, after: timedelta = timedelta(minutes=5), files: int = 2) -> HourCommit:
    return HourCommit(hour, hour + H + after, files, 1000 * files, f"s3://b/p/{hour:%Y/%m/%d/%H}/")


def change(hour: datetime, at: timedelta = timedelta(minutes=8), build: str | None = "b1", modeled: bool = True):
    changed_at = (hour + H + at).replace(tzinfo=None)
    return {
        "replication_hour": hour.replace(tzinfo=None), "load_id": f"load-{hour:%H}", "changed_at": changed_at,
        "dag_id": "event_log_ingest", "run_id": run(hour), "rows_loaded": 100, "rows_replaced": 0, "files_loaded": 2,
        "build_id": build if modeled else None, "modeled_at": changed_at + timedelta(minutes=1) if modeled else None,
    }  # fmt: skip


def check(hour: datetime, name: str, status: str, run_id: str | None = None, minute: int = 10, details: str = "{}"):
    return {"replication_hour": hour.replace(tzinfo=None), "run_id": run_id or run(hour), "check_name": name,
            "status": status, "checked_at": (hour + H + timedelta(minutes=minute)).replace(tzinfo=None),
            "details": details}  # fmt: skip


def build(build_id: str, hour: datetime, status: str, started: timedelta) -> dict:
    return {"build_id": build_id, "dag_id": "event_log_ingest", "run_id": run(hour), "status": status,
            "first_hour": hour.replace(tzinfo=None), "last_hour": hour.replace(tzinfo=None),
            "started_at": (hour + H + started).replace(tzinfo=None), "details": '{"failed": ["fct_runs"]}'}  # fmt: skip


def states_by_hour():
    commits = {h: commit(h) for h in (H3, H4, H5)}
    commits[H6] = commit(H6, after=timedelta(minutes=50))  # re-committed after its load: late data
    changes = [change(H3), change(H4, modeled=False), change(H6, modeled=False)]
    results = [
        check(H3, "raw_rows_equal_rows_loaded", "pass"), check(H3, "rejected_lines", "warn"),
        # H4: an earlier run failed its checks, the latest run passed them.
        check(H4, "raw_rows_equal_rows_loaded", "fail", run_id="manual__1", minute=5),
        check(H4, "raw_rows_equal_rows_loaded", "pass", minute=20),
        check(H5, "files_listed_equal_files_loaded", "fail"),
        check(H7, "deadline_missed", "fail", details='{"deadline_time": "2025-08-01T08:45:00+00:00"}'),
    ]  # fmt: skip
    builds = [build("b1", H3, "success", timedelta(minutes=8)), build("b2", H4, "failed", timedelta(minutes=9))]
    states = hour_states(window(NOW, 1), NOW, commits, changes, {H5: 7}, results, builds)
    return {s.hour: {name: cell.as_dict() for name, cell in s.cells.items()} for s in states}, states


def test_each_cell_has_the_state_of_its_rows():
    by_hour, states = states_by_hour()
    assert [s.hour for s in states][:6] == [H8, H7, H6, H5, H4, H3], "newest first"
    assert len(states) == 24

    def row(hour):
        return {name: cell["state"] for name, cell in by_hour[hour].items()}

    assert row(H3) == {
        "committed": "committed",
        "loaded": "loaded",
        "checks": "warn",
        "modeled": "modeled",
        "deadline": "ok",
    }
    assert row(H4) == {
        "committed": "committed",
        "loaded": "loaded",
        "checks": "pass",
        "modeled": "failed",
        "deadline": "ok",
    }
    assert row(H5) == {
        "committed": "committed",
        "loaded": "failed",
        "checks": "fail",
        "modeled": "none",
        "deadline": "ok",
    }
    assert row(H6) == {
        "committed": "committed",
        "loaded": "stale",
        "checks": "none",
        "modeled": "pending",
        "deadline": "ok",
    }
    assert row(H7) == {
        "committed": "uncommitted",
        "loaded": "not_loaded",
        "checks": "none",
        "modeled": "none",
        "deadline": "missed",
    }
    assert row(H8)["committed"] == "open"  # fmt: skip


def test_cells_carry_figures_and_link_to_their_runs():
    by_hour, _ = states_by_hour()
    loaded = by_hour[H3]["loaded"]
    assert loaded["details"]["rows"] == 100 and loaded["details"]["files"] == 2
    assert loaded["href"] == "../dags/event_log_ingest/runs/scheduled__2025-08-01T03%3A00%3A00%2B00%3A00"
    assert by_hour[H3]["committed"]["details"]["committed_at"] == "2025-08-01T04:05:00+00:00"
    assert by_hour[H3]["checks"]["details"]["results"] == {
        "raw_rows_equal_rows_loaded": "pass",
        "rejected_lines": "warn",
    }
    assert by_hour[H4]["modeled"]["details"]["build_id"] == "b2"
    assert by_hour[H5]["loaded"]["text"] == "not loaded, 7 rejects"
    assert by_hour[H7]["deadline"]["run_id"] == run(H7)
    assert by_hour[H7]["committed"]["run_id"] == run(H7), "the waiting run, known from its missed deadline"
    assert by_hour[H7]["deadline"]["details"]["deadline_time"] == "2025-08-01T08:45:00+00:00"


def test_relative_links_survive_a_deployment_path():
    assert run_href("event_log_ingest", "backfill__2025-08-01T03:00:00+00:00", "") == (
        "dags/event_log_ingest/runs/backfill__2025-08-01T03%3A00%3A00%2B00%3A00"
    )
    assert run_href(None, "x") is None
