"""The Snowflake connection as the hooks and dbt use it: plain http only towards loopback, values bound in the
warehouse on request, and dbt's profile from a password or a key pair, chosen from the connection when dbt runs."""

from __future__ import annotations

import base64
import json

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from include.event_log.model.dbt_project import SnowflakeConnectionProfileMapping
from include.event_log.warehouse import EventLogSnowflakeHook, refuse_plain_http

BASE = {"conn_type": "snowflake", "login": "LOADER", "schema": "RAW"}
EXTRA = {"account": "myorg-myaccount", "database": "EVENT_LOG", "warehouse": "EVENT_LOG_WH", "role": "EVENT_LOG_LOADER"}


def connection(monkeypatch, conn_id: str, password: str | None = None, **extra) -> str:
    conn = {**BASE, "extra": {**EXTRA, **extra}}
    if password is not None:
        conn["password"] = password
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def private_key_pem(passphrase: bytes | None = None) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost", "LOCALHOST", "host.docker.internal"]
)
def test_http_towards_loopback_is_allowed(host):
    refuse_plain_http("c", "http", host)


@pytest.mark.parametrize("host", ["myorg-myaccount.snowflakecomputing.com", "10.0.0.5", "", None, "127.0.0.1.evil.io"])
@pytest.mark.parametrize("protocol", ["http", "HTTP", " http "])
def test_http_anywhere_else_is_refused_naming_the_connection(protocol, host):
    with pytest.raises(ValueError, match="connection 'snowflake_event_log': protocol 'http' is allowed only"):
        refuse_plain_http("snowflake_event_log", protocol, host)


@pytest.mark.parametrize("protocol", [None, "", "https"])
def test_https_goes_anywhere(protocol):
    refuse_plain_http("c", protocol, "myorg-myaccount.snowflakecomputing.com")


def test_the_hook_refuses_plain_http_to_a_real_account(monkeypatch):
    conn_id = connection(
        monkeypatch, "sf_remote", password="secret", protocol="http", host="myorg.snowflakecomputing.com"
    )
    with pytest.raises(ValueError, match="connection 'sf_remote': protocol 'http'"):
        EventLogSnowflakeHook(snowflake_conn_id=conn_id)._get_conn_params()


def test_the_hook_reaches_the_local_emulator_and_binds_in_the_warehouse_on_request(monkeypatch):
    conn_id = connection(monkeypatch, "sf_local", password="local", protocol="http", host="127.0.0.1", port="8123")
    params = EventLogSnowflakeHook(snowflake_conn_id=conn_id)._get_conn_params()
    assert (params["protocol"], params["host"], params["port"]) == ("http", "127.0.0.1", 8123)
    assert "paramstyle" not in params, "the connector's default (pyformat, client-side) for the other statements"
    bound = EventLogSnowflakeHook(snowflake_conn_id=conn_id, server_side_binding=True)._get_conn_params()
    assert bound["paramstyle"] == "qmark"


def test_dbt_gets_the_password_mapping_for_a_password_connection(monkeypatch):
    conn_id = connection(monkeypatch, "sf_password", password="s3cret", protocol="http", host="127.0.0.1")
    mapping = SnowflakeConnectionProfileMapping(conn_id, {"schema": "ANALYTICS"})
    assert mapping.can_claim_connection()
    assert type(mapping.chosen).__name__ == "SnowflakeUserPasswordProfileMapping"
    profile = mapping.profile
    assert profile["password"] == "{{ env_var('COSMOS_CONN_SNOWFLAKE_PASSWORD') }}", "never the secret itself"
    assert (profile["protocol"], profile["host"], profile["schema"]) == ("http", "127.0.0.1", "ANALYTICS")
    assert mapping.env_vars == {"COSMOS_CONN_SNOWFLAKE_PASSWORD": "s3cret"}


def test_dbt_gets_the_key_pair_mapping_when_the_connection_holds_a_private_key(monkeypatch):
    pem = private_key_pem()
    conn_id = connection(monkeypatch, "sf_key", private_key_content=base64.b64encode(pem).decode())
    mapping = SnowflakeConnectionProfileMapping(conn_id, {"schema": "ANALYTICS"})
    assert type(mapping.chosen).__name__ == "SnowflakePrivateKeyPemProfileMapping"
    contents = yaml.safe_load(mapping.get_profile_file_contents("event_log", "airflow"))
    output = contents["event_log"]["outputs"]["airflow"]
    assert output["private_key"] == "{{ env_var('COSMOS_CONN_SNOWFLAKE_PRIVATE_KEY') }}"
    assert "password" not in output and "BEGIN PRIVATE KEY" not in json.dumps(contents), "the key is not in the file"
    assert output["user"] == "LOADER" and output["account"] == "myorg-myaccount"
    assert mapping.env_vars["COSMOS_CONN_SNOWFLAKE_PRIVATE_KEY"] == pem.decode()


def test_an_encrypted_key_uses_the_password_as_its_passphrase(monkeypatch):
    pem = private_key_pem(b"passphrase")
    conn_id = connection(monkeypatch, "sf_key_enc", password="passphrase", private_key_content=pem.decode())
    mapping = SnowflakeConnectionProfileMapping(conn_id, {"schema": "ANALYTICS"})
    assert type(mapping.chosen).__name__ == "SnowflakeEncryptedPrivateKeyPemProfileMapping"
    assert mapping.profile["private_key_passphrase"] == "{{ env_var('COSMOS_CONN_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE') }}"
    assert mapping.env_vars["COSMOS_CONN_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"] == "passphrase"


def test_a_key_file_gives_the_key_file_mapping(monkeypatch, tmp_path):
    key_file = tmp_path / "rsa_key.p8"
    key_file.write_bytes(private_key_pem())
    conn_id = connection(monkeypatch, "sf_key_file", private_key_file=str(key_file))
    mapping = SnowflakeConnectionProfileMapping(conn_id, {"schema": "ANALYTICS"})
    assert type(mapping.chosen).__name__ == "SnowflakePrivateKeyFilePemProfileMapping"
    assert mapping.profile["private_key_path"] == str(key_file)


def test_dbt_refuses_plain_http_to_a_real_account_and_a_connection_without_credentials(monkeypatch):
    remote = connection(
        monkeypatch, "sf_remote_dbt", password="s", protocol="http", host="myorg.snowflakecomputing.com"
    )
    with pytest.raises(ValueError, match="connection 'sf_remote_dbt': protocol 'http'"):
        SnowflakeConnectionProfileMapping(remote, {"schema": "ANALYTICS"}).get_profile_file_contents("event_log")
    bare = connection(monkeypatch, "sf_bare")
    mapping = SnowflakeConnectionProfileMapping(bare, {"schema": "ANALYTICS"})
    assert not mapping.can_claim_connection()
    with pytest.raises(Exception, match="a password or a private key"):
        mapping.get_profile_file_contents("event_log")
