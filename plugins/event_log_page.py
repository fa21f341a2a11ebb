"""The "Event log" page in the Airflow UI: each replication hour from commit in S3 to dbt model.

A FastAPI app mounted by the API server under `/event-log` (below Airflow's base URL, so it works under
Astro's deployment path too):

- `GET event-log/` the page: a grid of the last days' hours (committed, loaded, checks, modeled,
  deadline; one colour per state), each cell linking to its run in the UI;
- `GET event-log/api/hours` the same data as JSON (`days`, 1 to 14, default 3; `run_id` keeps the
  hours of one run). Its `href`s are relative to the UI's base URL.

Both need Airflow's auth, as the REST API does: the UI's session cookie (the page is shown in an iframe
of the UI) or a bearer token, and read access to event_log_ingest's runs; without a token: 401.
The page is in the navigation (Browse) and is a tab of every DAG run's page (the hours of that run).
What each state means: include/event_log/glass/hour_states.py.

The plugins manager imports this file in every Airflow component: the app (FastAPI, Airflow's auth,
the Snowflake connector) is built on the first request the API server routes to it, not at import.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' parameter annotations, which name
# types imported inside build_app(), so they must be evaluated where the routes are defined.
from pathlib import Path
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/event-log"
TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_DAYS = 14


def build_app():
    """The FastAPI app; imported and built once, in the API server."""
    from datetime import UTC, datetime
    from typing import Annotated

    import jinja2
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, Query
    from fastapi.responses import HTMLResponse

    from include.event_log.glass.hour_states import COLUMNS, INGEST_DAG_ID

    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    readable = [
        Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN, param_dag_id=INGEST_DAG_ID))
    ]
    app = FastAPI(title="Event log", description="Replication hours from S3 commit to dbt model", docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip

    def grid(days: int, run_id: str | None) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from include.event_log.config import AWS_CONN_ID, SNOWFLAKE_CONN_ID, IngestConfig
        from include.event_log.glass.hour_states import read_hour_states

        now = datetime.now(UTC)
        states = read_hour_states(SNOWFLAKE_CONN_ID, S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
                                  IngestConfig.from_env(), now, days)  # fmt: skip
        hours = [state.as_dict(ui_base="") for state in states if not run_id or run_id in state.run_ids]
        return {
            "generated_at": now.isoformat(),
            "days": days,
            "first_hour": states[-1].hour.isoformat(),
            "last_hour": states[0].hour.isoformat(),
            "run_id": run_id,
            "columns": list(COLUMNS),
            "hours": hours,
        }

    Days = Annotated[int, Query(ge=1, le=MAX_DAYS)]

    @app.get("/api/hours", dependencies=readable)
    def hours_json(days: Days = 3, run_id: str | None = None) -> dict[str, Any]:
        return grid(days, run_id)

    @app.get("/", response_class=HTMLResponse, dependencies=readable)
    def page(days: Days = 3, run_id: str | None = None, dag_id: str | None = None) -> HTMLResponse:
        data = grid(days, run_id)
        for hour in data["hours"]:
            hour["label"] = hour["hour"][:16].replace("T", " ")
            for column in COLUMNS:
                cell = hour[column]
                cell["title"] = ", ".join(f"{k}: {v}" for k, v in cell["details"].items() if v is not None)
        query = f"days={days}" + (f"&run_id={run_id}" if run_id else "")
        html = templates.get_template("event_log_page.html.j2").render(
            hours=data["hours"],
            columns=data["columns"],
            days=days,
            run_id=run_id,
            first_hour=data["first_hour"][:16].replace("T", " "),
            last_hour=data["last_hour"][:16].replace("T", " "),
            generated_at=data["generated_at"][:19].replace("T", " "),
            json_href=f"api/hours?{query}",
            legend=["committed", "loaded", "pass", "modeled", "open", "pending", "warn", "stale", "uncommitted",
                    "fail", "failed", "missed", "not_loaded", "none"],
        )  # fmt: skip
        return HTMLResponse(html)

    return app


class LazyApp:
    """An ASGI app that builds the real one on its first request."""

    def __init__(self) -> None:
        self._app = None

    async def __call__(self, scope, receive, send) -> None:
        if self._app is None:
            self._app = build_app()
        await self._app(scope, receive, send)


class EventLogPagePlugin(AirflowPlugin):
    name = "event_log_page"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Event log"}]
    # hrefs are relative to the UI's base URL (its <base href>), so they work under a deployment path.
    external_views = [
        {
            "name": "Event log",
            "href": "event-log/",
            "destination": "nav",
            "category": "browse",
            "url_route": "event-log",
        },
        {
            "name": "Event log",
            "href": "event-log/?dag_id={DAG_ID}&run_id={RUN_ID}",
            "destination": "dag_run",
            "url_route": "event-log-run",
        },
    ]
