"""The local S3 as the emulator's stages see it: one s3fs filesystem, shared by DuckDB and the listings.

DuckDB's httpfs extension would have to be downloaded, which the local stack must not need, so the stages'
`s3://` URLs are served by an fsspec filesystem registered on the DuckDB instance instead.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass

import duckdb
import s3fs

log = logging.getLogger(__name__)

_filesystem: s3fs.S3FileSystem | None = None


def configure(con: duckdb.DuckDBPyConnection, endpoint_url: str | None) -> s3fs.S3FileSystem:
    """Register an S3 filesystem on the DuckDB instance (every session's cursor shares it)."""
    global _filesystem
    # No listings cache: a REFRESH or a COPY must see the bucket as it is now, not as it was listed before.
    # Cache type "all": an opened object is fetched once, whole. Otherwise DuckDB's CSV reader issues many
    # small range reads through the Python filesystem, ~10x slower on an uncompressed part file (part files
    # roll at ~128 MB, so holding the one being read in memory is fine).
    # Credentials and region come from the usual AWS_* environment variables.
    _filesystem = s3fs.S3FileSystem(
        endpoint_url=endpoint_url, use_listings_cache=False, skip_instance_cache=True, default_cache_type="all"
    )
    con.register_filesystem(_filesystem)
    log.info("stages read s3:// from %s", endpoint_url or "AWS")
    return _filesystem


def filesystem() -> s3fs.S3FileSystem:
    if _filesystem is None:
        raise RuntimeError("localsnow storage is not configured: call storage.configure() first")
    return _filesystem


@dataclass(frozen=True)
class StagedFile:
    """One object under a stage."""

    url: str  # s3://bucket/key, what DuckDB reads
    name: str  # the path relative to the stage URL: Snowflake's METADATA$FILENAME
    size: int
    last_modified: datetime.datetime
    etag: str


def list_files(stage_url: str, prefix: str = "") -> list[StagedFile]:
    """The objects whose path relative to the stage starts with `prefix`, sorted by path.

    Like Snowflake's `@stage/prefix`, the prefix is a plain string prefix, not necessarily a folder.
    """
    if not stage_url.startswith("s3://"):
        raise NotImplementedError(f"stage URL {stage_url!r}: localsnow reads s3:// stages only")
    root = stage_url.removeprefix("s3://")
    folder = (root + prefix).rsplit("/", 1)[0]
    fs = filesystem()
    try:
        found = fs.find(folder, detail=True)
    except FileNotFoundError:
        found = {}
    files = []
    for path, info in found.items():
        if info.get("type") == "directory" or path.endswith("/"):
            continue
        name = path.removeprefix(root)
        if path.startswith(root) and name.startswith(prefix):
            files.append(
                StagedFile(
                    url=f"s3://{path}",
                    name=name,
                    size=int(info.get("size") or 0),
                    last_modified=_as_utc(info.get("LastModified")),
                    etag=str(info.get("ETag") or "").strip('"'),
                )
            )
    return sorted(files, key=lambda f: f.name)


def matching(files: list[StagedFile], pattern: str | None) -> list[StagedFile]:
    """Files whose path relative to the stage fully matches a PATTERN regex (Snowflake anchors it)."""
    if not pattern:
        return files
    regex = re.compile(pattern)
    return [f for f in files if regex.fullmatch(f.name)]


def _as_utc(value: object) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC) if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    return datetime.datetime.now(datetime.UTC)
