"""Fixtures shared by every test: a local S3 (moto's server) on a free loopback port."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import boto3
import pytest

from devstack.ports import LOOPBACK, free_port

REPO = Path(__file__).resolve().parent.parent
# Tests get an Airflow of their own: a throw-away home and SQLite metadata DB, never the developer's.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="event-log-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"

# Credentials for the local S3 only; moto accepts any.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def s3_endpoint_url():
    """moto's S3 server in this process, on loopback; stopped at the end of the session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    yield f"http://{LOOPBACK}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint_url):
    return boto3.client("s3", endpoint_url=s3_endpoint_url, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client, request):
    """A fresh, empty bucket per test."""
    name = "test-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    s3_client.create_bucket(Bucket=name)
    yield name
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3_client.delete_object(Bucket=name, Key=obj["Key"])
    s3_client.delete_bucket(Bucket=name)
