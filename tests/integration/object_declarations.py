"""Edited copies of the package's declaration for the objects tests, each in a database and stage prefix of its own
(the repository's YAML is never edited)."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.stack import BUCKET
from include.event_log.config import OBJECTS_FILE
from include.event_log.objects.declarations import EventLogObjects, load_objects
from tests.integration.conftest import query

AIRFLOW_RUN_ID_COLUMN = (
    "      - name: AIRFLOW_RUN_ID\n        type: VARCHAR\n"
    "        description: The event_log_ingest run that loaded the row.\n"
)
# Three rows of the raw table: (event_log_id, FILE_NAME, FILE_ROW_NUMBER)
RAW_ROWS = ((10, "a", 1), (11, "a", 2), (12, "b", 1))


class Declaration:
    """An edited copy of the package's declaration, in its own database and stage prefix."""

    @classmethod
    def in_own_database(cls, tmp_path: Path, warehouse, s3_client, name: str) -> Declaration:
        """A new database named after `name`, and two part files of two events each landed under its prefix."""
        database = name.upper().replace("TEST_", "")[:48]
        query(warehouse, f"CREATE DATABASE IF NOT EXISTS {database}")
        declared = cls(tmp_path / "objects.yaml", database)
        for n in (1, 2):
            body = "".join(json.dumps({"event_log_id": 10 * n + i, "step_key": f"s{i}"}) + "\n" for i in range(2))
            key = f"{declared.prefix}/dt=2025-08-01/hr=0{n}/part-0000000{n}-0000-0000-0000-000000000000-0-1.jsonl"
            s3_client.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
        return declared

    def __init__(self, path: Path, database: str):
        self.path, self.database = path, database
        self.prefix = f"objects/{database.lower()}"
        self.text = (
            OBJECTS_FILE.read_text()
            .replace("database: EVENT_LOG\n", f"database: {database}\n")
            .replace("${EVENT_LOG_PREFIX}", self.prefix)
        )
        self.write()

    def edit(self, old: str, new: str) -> None:
        assert self.text.count(old) == 1, old
        self.text = self.text.replace(old, new)
        self.write()

    def write(self) -> None:
        self.path.write_text(self.text)

    @property
    def objects(self) -> EventLogObjects:
        return load_objects(self.path)

    def fqn(self, name: str) -> str:
        return f"{self.database}.RAW.{name}"

    def insert_raw_rows(self, warehouse) -> None:
        values = ", ".join(f"('{{\"event_log_id\": {n}}}', '{f}', {r})" for n, f, r in RAW_ROWS)
        query(
            warehouse,
            f"INSERT INTO {self.fqn('RAW_FLINK_EVENT_LOG')} (RECORD, FILE_NAME, FILE_ROW_NUMBER, REPLICATION_HOUR, "
            "LOADED_AT, AIRFLOW_RUN_ID) SELECT PARSE_JSON(column1), column2, column3, '2025-08-01 01:00:00', "
            f"'2025-08-01 02:01:00', 'r1' FROM VALUES {values}",
        )
