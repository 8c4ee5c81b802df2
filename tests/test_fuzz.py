"""Fuzzing the readers of untrusted files: they fail with one clear error, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flowvault.archive import Snapshot, parse_manifest, sha256
from flowvault.config import parse_config
from flowvault.errors import ArchiveError, ConfigError
from flowvault.mapfile import parse_map

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: __import__("json").dumps(v).encode()))
def test_manifest_reader_only_raises_archive_error(raw: bytes) -> None:
    try:
        parse_manifest(raw, "manifest.json")
    except ArchiveError as e:
        assert "manifest.json" in str(e) and "\n" not in str(e)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300) | json_values.map(lambda v: __import__("json").dumps(v)))
def test_map_reader_only_raises_config_error(text: str) -> None:
    try:
        parse_map(text, "map.toml")
    except ConfigError as e:
        assert "map.toml" in str(e)


@settings(max_examples=120, deadline=None)
@given(st.text(max_size=300))
def test_config_reader_only_raises_config_error(text: str) -> None:
    try:
        parse_config(text, Path("fv.toml"))
    except ConfigError as e:
        assert "fv.toml" in str(e)


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=200))
def test_archived_file_with_any_bytes_is_rejected_or_read(raw: bytes) -> None:
    """A flow file whose bytes match the manifest but are not a valid document."""
    entry = {"name": "x", "folder": "1-x", "versions": 0,
             "files": {"export.json": sha256(raw), "flow.json": sha256(raw)}}
    manifest = json.dumps({"flows": {"1": entry}}).encode()
    files = {"manifest.json": manifest, "flows/1-x/export.json": raw, "flows/1-x/flow.json": raw}
    snap = Snapshot(files.get, "archive")
    try:
        snap.checked("1")
    except ArchiveError as e:
        assert "archive" in str(e)
