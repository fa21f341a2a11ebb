"""Record an event on an asset from outside Airflow: a Python API and a CLI on the official client.

Any script (an ad hoc report, a backfill, the Flink job's post-commit hook) can tell Airflow that an
asset changed. The event is `POST /api/v2/assets/events` with the asset's numeric id, looked up here by
the asset's name or URI; the token comes from `POST /auth/token` (user and password) or is given as is
(an Astro API token):

    export AIRFLOW_API_URL=https://<deployment>/   # the Airflow base URL, its path included
    export AIRFLOW_API_TOKEN=...                   # or AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD
    python -m include.event_log.glass.asset_events record kafka_dagster_event_log \\
        --extra '{"lag_seconds": 12}' [--partition-key 2025-08-01T03]

From Python: `record_asset_event("s3_flink_event_log", {"files": 4}, connection=ApiConnection.from_env())`.

An event with a `partition_key` only reaches DAGs scheduled with a `PartitionedAssetTimetable`; one
without reaches every DAG scheduled on the asset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from dataclasses import dataclass
from typing import Any

URL_ENV, TOKEN_ENV = "AIRFLOW_API_URL", "AIRFLOW_API_TOKEN"
USERNAME_ENV, PASSWORD_ENV = "AIRFLOW_API_USERNAME", "AIRFLOW_API_PASSWORD"
TIMEOUT_SECONDS = 30


class AssetNotFound(LookupError):
    """No asset, or more than one, has that name or URI."""


def fetch_token(base_url: str, username: str, password: str) -> str:
    """A JWT from the API server's `POST /auth/token` (simple and FAB auth managers)."""
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return json.load(response)["access_token"]


@dataclass(frozen=True)
class ApiConnection:
    base_url: str
    token: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ApiConnection:
        env = os.environ if environ is None else environ
        base_url = env.get(URL_ENV, "").rstrip("/")
        if not base_url:
            raise ValueError(f"set {URL_ENV} to the Airflow base URL")
        if token := env.get(TOKEN_ENV):
            return cls(base_url, token)
        if env.get(USERNAME_ENV) and env.get(PASSWORD_ENV):
            return cls(base_url, fetch_token(base_url, env[USERNAME_ENV], env[PASSWORD_ENV]))
        raise ValueError(f"set {TOKEN_ENV}, or {USERNAME_ENV} and {PASSWORD_ENV}")

    def asset_api(self):
        import airflow_client.client as airflow_client
        from airflow_client.client.api.asset_api import AssetApi

        configuration = airflow_client.Configuration(host=self.base_url)
        configuration.access_token = self.token
        return AssetApi(airflow_client.ApiClient(configuration))


def find_asset_id(asset_api: Any, name_or_uri: str) -> int:
    """The numeric id of the asset whose name (or, given a `scheme://` URI, whose URI) is exactly this."""
    by_uri = "://" in name_or_uri
    page = (
        asset_api.get_assets(uri_prefix_pattern=name_or_uri, limit=100)
        if by_uri
        else asset_api.get_assets(name_prefix_pattern=name_or_uri, limit=100)
    )
    matches = [a for a in page.assets if (a.uri if by_uri else a.name) == name_or_uri]
    if len(matches) != 1:
        what = "URI" if by_uri else "name"
        raise AssetNotFound(f"{len(matches)} assets have the {what} {name_or_uri!r} (is a DAG referencing it?)")
    return matches[0].id


def record_asset_event(
    asset: str,
    extra: dict[str, Any] | None = None,
    *,
    connection: ApiConnection,
    partition_key: str | None = None,
) -> dict[str, Any]:
    """Record one event on the asset named `asset` (a name, or a URI); return the event as created."""
    from airflow_client.client.models.create_asset_events_body import CreateAssetEventsBody

    asset_api = connection.asset_api()
    body = CreateAssetEventsBody(
        asset_id=find_asset_id(asset_api, asset), extra=extra or {}, partition_key=partition_key
    )
    event = asset_api.create_asset_event(body)
    return json.loads(event.to_json())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.event_log.glass.asset_events",
        description=f"Record an event on an Airflow asset. Connection: {URL_ENV}, and {TOKEN_ENV} or "
        f"{USERNAME_ENV} + {PASSWORD_ENV}.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="record one event on an asset")
    record.add_argument("asset", help="the asset's name (e.g. kafka_dagster_event_log) or its URI")
    record.add_argument("--extra", default="{}", help="the event's extra, a JSON object")
    record.add_argument("--partition-key", help="e.g. the hour 2025-08-01T03 (reaches partitioned DAGs only)")
    args = parser.parse_args(argv)
    extra = json.loads(args.extra)
    if not isinstance(extra, dict):
        parser.error("--extra must be a JSON object")
    try:
        event = record_asset_event(
            args.asset, extra, connection=ApiConnection.from_env(), partition_key=args.partition_key
        )
    except (ValueError, AssetNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(event, default=str, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
