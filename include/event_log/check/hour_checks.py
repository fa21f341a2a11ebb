"""The checks every loaded hour gets, in place of the asset checks of the platform this follows.

Reconciliation (fails the hour): the files listed in S3 are the files the COPY loaded; rows parsed
are rows loaded plus rows rejected; the raw table, the COPY's report and the external table agree, and the
rejects table holds the lines the load says it kept; the hour's folder holds nothing but finished part
files and known Flink by-products (anything else is named).
Counted: how many part files the hour had (an hour committed without one warns; an hour with no folder
that a later hour showed complete is reported empty).
Counts (warn, never silent): lines the warehouse rejected, those of them not kept in the rejects table
(a capped scan, lines too long to check: counted per file), unknown event types, fields the contract does
not know, duplicate event_log_ids within the hour and across the day around it.
"""

from __future__ import annotations

from typing import Any

from include.event_log.check.results import FAIL, PASS, WARN, CheckResult
from include.event_log.contract import event_types, record_fields
from include.event_log.objects.declarations import event_log_objects
from include.event_log.sql_templates import render_sql
from include.event_log.warehouse import run_statements

# The contract (../shared/event-log-spec.md section 3): what a record may hold today.
KNOWN_EVENT_TYPES = frozenset(event_types())
KNOWN_FIELDS = frozenset(record_fields())


def _equal(name: str, hour: str, observed: int, expected: int, **details: Any) -> CheckResult:
    status = PASS if observed == expected else FAIL
    if status == FAIL:
        details = {**details, "difference": observed - expected}
    return CheckResult(name, status, observed, expected, details, hour)


def _counted(name: str, hour: str, observed: int, **details: Any) -> CheckResult:
    return CheckResult(name, WARN if observed else PASS, observed, 0, details if observed else {}, hour)


def _loadable_files(hour: str, files: int, completion: dict[str, str]) -> CheckResult:
    """How many finished part files the hour had: none is normal for an hour Flink wrote no folder for
    (reported empty), and worth a warning for a committed hour."""
    state = completion.get("state", "committed")
    details = {"state": state, "reason": completion.get("reason", "")}
    status = WARN if files == 0 and state != "complete_empty" else PASS
    return CheckResult("loadable_files_in_hour", status, files, None, details, hour)


def check_loaded_hour(conn_id: str, listing: dict[str, Any], report: dict[str, Any]) -> list[CheckResult]:
    """The hour's checks: the warehouse's counts for the hour (the only I/O), then `hour_verdicts`."""
    context = event_log_objects().template_context()
    params = {"replication_hour": listing["hour_start"].replace("T", " ")[:19]}
    counts, across, types, fields = run_statements(
        conn_id,
        [
            (render_sql("checks/hour_counts.sql", **context), params),
            (render_sql("checks/duplicate_ids_across_hours.sql", **context), params),
            (render_sql("checks/event_types_in_hour.sql", **context), params),
            (render_sql("checks/fields_in_hour.sql", **context), params),
        ],
    )
    return hour_verdicts(listing, report, counts[0], int(across[0][0]), types, fields)


def hour_verdicts(
    listing: dict[str, Any],
    report: dict[str, Any],
    counts: tuple,
    duplicates_across_hours: int,
    types: list[tuple],
    fields: list[tuple],
) -> list[CheckResult]:
    """Every check's verdict from the hour's listing, its load report and the warehouse's counts for it (raw rows,
    external table rows, rejects table rows, duplicate ids in the hour; rows per event type and per field)."""
    hour = listing["hour_start"]
    raw_rows, external_rows, rejected_rows, duplicates_in_hour = (int(v) for v in counts)
    # Of the lines the warehouse rejected, those the reject path kept (include/event_log/load/rejects.py).
    rejects = report.get("rejects") or {}
    kept = int(report.get("rejects_kept", report["rows_rejected"]))
    listed, loaded = set(listing["files"]), set(report["loaded_files"])
    unexpected = listing.get("unexpected") or []
    completion = listing.get("completion") or {}
    unknown_types = {str(t): int(n) for t, n in types if t is not None and t not in KNOWN_EVENT_TYPES}
    new_fields = {str(f): int(n) for f, n in fields if f not in KNOWN_FIELDS}
    return [
        _equal("unexpected_objects_in_hour", hour, len(unexpected), 0, objects=unexpected[:50]),
        _loadable_files(hour, len(listed), completion),
        _equal(
            "files_listed_equal_files_loaded", hour, len(loaded), len(listed),
            not_loaded=sorted(listed - loaded), not_listed=sorted(loaded - listed),
        ),
        _equal(
            "rows_parsed_equal_loaded_plus_rejected", hour, report["rows_loaded"] + report["rows_rejected"],
            report["rows_parsed"], rows_loaded=report["rows_loaded"], rows_rejected=report["rows_rejected"],
        ),
        _equal("raw_rows_equal_rows_loaded", hour, raw_rows, report["rows_loaded"]),
        _equal("raw_rows_equal_external_table_rows", hour, raw_rows, external_rows),
        _equal("rejects_table_rows_equal_rejects_kept", hour, rejected_rows, kept),
        _counted(
            "rejected_lines", hour, report["rows_rejected"],
            files=report["rejected_files"], ratio=report["reject_ratio"], kept=kept,
        ),
        _counted(
            "rejected_lines_not_kept", hour, report["rows_rejected"] - kept,
            files=[f for f in rejects.get("files", []) if f.get("not_kept")][:50],
            capped_files=rejects.get("capped_files", []),
        ),
        _counted("unknown_event_types", hour, sum(unknown_types.values()), types=unknown_types),
        _counted("new_fields", hour, len(new_fields), fields=new_fields),
        _counted("duplicate_event_log_ids_in_hour", hour, duplicates_in_hour),
        _counted("duplicate_event_log_ids_across_hours", hour, duplicates_across_hours),
    ]  # fmt: skip
