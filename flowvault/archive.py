"""The archive on disk: one folder per flow, canonical JSON files, a manifest with
sha256 of every file, atomic writes that skip unchanged bytes.

Layout::

    manifest.json
    flows/<id>-<slug>/flow.json            flow settings, labels, webhooks, callbacks, notification
                                           groups, message brokers/queues, deployments
    flows/<id>-<slug>/export.json          the API's export document
    flows/<id>-<slug>/versions/<id>.json   each version, its steps, variables and schedules
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._version import __version__
from .canonical import dumps, loads
from .errors import ArchiveError, UsageError

MANIFEST = "manifest.json"
#: in flow.json: the parts of a flow the API would not give this run (part → why); their last good copy is kept
NOT_CAPTURED = "_not_captured"
#: parts kept in the version files rather than in flow.json → the keys they fill there
VERSION_PARTS = {"schedules": ("schedules",), "version details": ("variables", "steps")}
FLOWS_DIR = "flows"
IMPORTS_DIR = "imports"  # the ID map of each import target: imports/<profile>.json
FORMAT = 1
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def slugify(name: str, max_len: int = 60) -> str:
    """A safe, stable folder-name part: ASCII letters, digits, '-'; never empty,
    never '.'/'..', never a Windows device name, at most ``max_len`` characters."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").lower()[:max_len].strip("-")
    if not slug:
        slug = "flow"
    if slug in _RESERVED:
        slug = f"{slug}-flow"
    return slug


def flow_folder(flow_id: int | str, name: str) -> str:
    return f"{flow_id}-{slugify(name)}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FlowRecord:
    """Everything archived for one flow: relative file path (inside its folder) → bytes."""

    flow_id: int | str
    name: str
    files: dict[str, bytes]
    versions: int
    not_captured: dict[str, str] = field(default_factory=dict)  # part → why the API would not give it
    _hashes: dict[str, str] | None = field(default=None, repr=False, compare=False)  # of ``files``, once


    @property
    def folder(self) -> str:
        return flow_folder(self.flow_id, self.name)

    def manifest_entry(self) -> dict[str, Any]:
        if self._hashes is None:  # asked for by the gate's check, the write and the manifest: hashed once
            self._hashes = {p: sha256(b) for p, b in sorted(self.files.items())}
        entry = {"name": self.name, "folder": self.folder, "versions": self.versions, "files": dict(self._hashes)}
        if self.not_captured:
            entry["not_captured"] = sorted(self.not_captured)
        return entry


def build_record(flow: dict[str, Any], export_doc: Any, versions: list[dict[str, Any]]) -> FlowRecord:
    """Pure: the files of one flow from what the API served (already cleaned); ``flow`` names
    under NOT_CAPTURED the parts that could not be read."""
    files = {"flow.json": dumps(flow), "export.json": dumps(export_doc)}
    for v in versions:
        files[f"versions/{int(v['id'])}.json"] = dumps(v)
    fid = flow["id"]
    parts = flow.get(NOT_CAPTURED)
    return FlowRecord(flow_id=int(fid) if str(fid).isdigit() else str(fid), name=str(flow.get("name", "")),
                      files=files, versions=len(versions),
                      not_captured={str(k): str(v) for k, v in parts.items()} if isinstance(parts, dict) else {})


def keep_last_good(record: FlowRecord, previous: Callable[[str], bytes | None],
                   old_files: list[str] | tuple[str, ...] = ()) -> FlowRecord:
    """The record with each part it could not capture taken from the flow's last archived copy
    (``previous(rel)``: a file of that copy, None when there is none; ``old_files``: that copy's
    files): a relation into flow.json, schedules or variables into each version file that lacks
    them, every version file when the versions could not be listed. A part never read is never
    recorded as empty or removed."""
    if not record.not_captured:
        return record
    files = dict(record.files)
    if "versions" in record.not_captured:
        for rel in old_files:
            data = previous(rel) if rel.startswith("versions/") and rel not in files else None
            if data is not None:
                files[rel] = data
    old_flow = previous("flow.json")
    if old_flow is not None:
        flow, before = loads(files["flow.json"]), loads(old_flow)
        for part in record.not_captured:
            snake = "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in part)
            for key in (part, snake):
                if key in before and key not in flow:
                    flow[key] = before[key]
        files["flow.json"] = dumps(flow)
    keys = [k for part in record.not_captured for k in VERSION_PARTS.get(part, ())]
    for rel in [r for r in files if r.startswith("versions/")] if keys else []:
        version, old = loads(files[rel]), previous(rel)
        lacking = [k for k in keys if k not in version]
        if lacking and old is not None:
            before = loads(old)
            version |= {k: before[k] for k in lacking if k in before}
            files[rel] = dumps(version)
    versions = sum(1 for rel in files if rel.startswith("versions/"))
    return FlowRecord(record.flow_id, record.name, files, versions, record.not_captured)


_TEMPS = itertools.count()
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def atomic_write(path: Path, data: bytes, *, compare: bool = True) -> bool:
    """Write via temp file + rename; do nothing (and return False) if the bytes are the same
    (``compare=False``: the caller already knows they differ). The temp file is named by this
    process and a counter (no random name to draw, no file object), mode 0600 as mkstemp's."""
    try:
        if compare and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    folder = os.fspath(path.parent)
    tmp = f"{folder}/.tmp-{os.getpid()}-{next(_TEMPS)}.part"
    try:
        fd = os.open(tmp, _NEW_FILE, 0o600)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, _NEW_FILE, 0o600)
    except FileExistsError:  # left by a killed process that had this PID
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        # No fsync per file: the rename is atomic for any reader or crash of this process, and
        # the durable state is the git commit (a run that dies is rolled back to it).
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


@dataclass
class Written:
    """What a run wrote: the flows it added, changed and removed (labels), and the files it wrote."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    files_written: int = 0
    touched: bool = False  # anything written or deleted under flows/ or the manifest: a commit may be due

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class Archive:
    """A folder holding flows and a manifest. Knows nothing about git or the API."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def read_manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {"format": FORMAT, "flows": {}}
        return parse_manifest(raw, str(path))

    def write_flow(self, record: FlowRecord, old_entry: dict[str, Any] | None, changes: Written,
                   changed: list[tuple[str, bytes]]) -> None:
        """Write one flow's ``changed`` files (from ``changed_files``), drop its stale files
        (deleted versions, old folder after a rename), and classify it as added/changed/unchanged."""
        folder = self.root / FLOWS_DIR / record.folder
        for path, data in changed:
            atomic_write(self.root / path, data, compare=False)
            changes.files_written += 1
            changes.touched = True
        if old_entry is not None:
            old_folder = self.root / FLOWS_DIR / str(old_entry.get("folder", ""))
            if old_entry.get("folder") != record.folder:
                self._remove_folder(old_folder)
                changes.touched = True
            else:
                for rel in old_entry.get("files", {}):
                    if rel not in record.files:
                        (folder / rel).unlink(missing_ok=True)
                        changes.touched = True
        entry = record.manifest_entry()
        label = f"{record.name} (#{record.flow_id})"
        if old_entry is None:
            changes.added.append(label)
        elif {k: old_entry.get(k) for k in entry} != entry:
            changes.changed.append(label)

    def previous(self, entry: dict[str, Any] | None) -> Callable[[str], bytes | None]:
        """A reader of one flow's archived files (by path inside its folder; None when absent)."""
        folder = self.root / FLOWS_DIR / str((entry or {}).get("folder", ""))

        def read(rel: str) -> bytes | None:
            if entry is None:
                return None
            try:
                return (folder / rel).read_bytes()
            except OSError:
                return None
        return read

    def changed_files(self, record: FlowRecord) -> list[tuple[str, bytes]]:
        """(archive path, bytes) of the record's files whose bytes differ from what is on disk."""
        out = []
        for rel, data in record.files.items():
            path = f"{FLOWS_DIR}/{record.folder}/{rel}"
            try:
                if (self.root / path).read_bytes() == data:
                    continue
            except OSError:
                pass
            out.append((path, data))
        return out

    def remove_flow(self, flow_id: str, entry: dict[str, Any], changes: Written) -> None:
        self._remove_folder(self.root / FLOWS_DIR / str(entry.get("folder", "")))
        changes.removed.append(f"{entry.get('name')} (#{flow_id})")
        changes.touched = True

    def _remove_folder(self, folder: Path) -> None:
        base = (self.root / FLOWS_DIR).resolve()
        target = folder.resolve()
        if target != base and base in target.parents and target.exists():
            shutil.rmtree(target)

    def write_manifest(self, source: dict[str, Any], flows: dict[str, dict[str, Any]],
                       secrets: str, recipient: str | None = None) -> bool:
        manifest = {"format": FORMAT, "flowvault_version": __version__, "source": source,
                    "secrets": secrets, **({"secrets_recipient": recipient} if recipient else {}),
                    "flows": {k: flows[k] for k in sorted(flows, key=id_key)}}
        return atomic_write(self.root / MANIFEST, dumps(manifest))


def id_key(flow_id: str) -> tuple[int, str]:
    """Sort key: numeric IDs by value, others (UUIDs) after them by text."""
    return (0, f"{int(flow_id):020d}") if flow_id.isdigit() else (1, flow_id)


def parse_manifest(raw: bytes, where: str) -> dict[str, Any]:
    """Parse and check a manifest's shape; ArchiveError naming the file otherwise."""
    try:
        data = loads(raw)
    except ValueError:
        raise ArchiveError(f"{where}: not valid JSON (truncated or edited?)") from None
    if not isinstance(data, dict) or not isinstance(data.get("flows"), dict):
        raise ArchiveError(f"{where}: not a flowvault manifest (no 'flows' object)")
    for fid, entry in data["flows"].items():
        if (not isinstance(entry, dict) or not isinstance(entry.get("folder"), str)
                or not isinstance(entry.get("files"), dict) or "/" in entry["folder"]
                or entry["folder"] in ("", ".", "..")):
            raise ArchiveError(f"{where}: flow {fid}: malformed entry")
    return data


Reader = Callable[[str], "bytes | None"]


class Snapshot:
    """The archive as it is in the work tree or at a commit, read through ``read(path)``.
    Every file is checked against the manifest's sha256 as it is read."""

    def __init__(self, read: Reader, where: str) -> None:
        self._read = read
        self.where = where
        raw = read(MANIFEST)
        if raw is None:
            raise ArchiveError(f"{where}: no {MANIFEST} (not a flowvault archive, or nothing exported yet)")
        self.manifest = parse_manifest(raw, f"{where}:{MANIFEST}")
        self.flows: dict[str, dict[str, Any]] = self.manifest["flows"]

    def select(self, wanted: tuple[str, ...] | list[str]) -> list[str]:
        """Flow IDs for ``--flow ID|NAME`` (all when empty); UsageError for an unknown one."""
        if not wanted:
            return sorted(self.flows, key=id_key)
        out: list[str] = []
        for w in wanted:
            hits = [fid for fid, e in self.flows.items() if fid == w or e.get("name") == w]
            if not hits:
                raise UsageError(f"{self.where}: no flow with ID or name '{w}' in the archive")
            out += [h for h in hits if h not in out]
        return out

    def read_path(self, path: str) -> bytes | None:
        """Any file of the archive by its path (None when absent), unchecked: for what the manifest
        does not list (the import ID maps)."""
        return self._read(path)

    def raw(self, fid: str, rel: str) -> bytes:
        path = f"{FLOWS_DIR}/{self.flows[fid]['folder']}/{rel}"
        data = self._read(path)
        if data is None:
            raise ArchiveError(f"{self.where}:{path}: listed in the manifest but missing")
        return data

    def read_json(self, fid: str, rel: str) -> Any:
        """One file of a flow, checked against the manifest's sha256 and parsed."""
        return self._file(fid, rel)

    def _file(self, fid: str, rel: str) -> Any:
        entry = self.flows[fid]
        path = f"{FLOWS_DIR}/{entry['folder']}/{rel}"
        raw = self.raw(fid, rel)
        if sha256(raw) != entry["files"].get(rel):
            raise ArchiveError(f"{self.where}:{path}: checksum does not match the manifest (edited or corrupt)")
        try:
            return loads(raw)
        except ValueError:
            raise ArchiveError(f"{self.where}:{path}: not valid JSON") from None

    def export_doc(self, fid: str) -> dict[str, Any]:
        export = self._file(fid, "export.json")
        if not isinstance(export, dict) or not isinstance(export.get("flow"), dict):
            raise ArchiveError(f"{self.where}: flow {fid}: export.json has no 'flow' object")
        return export

    def checked(self, fid: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A flow's settings and export document, with every file of the flow checked (sha256,
        JSON, shape) now rather than mid-import."""
        entry = self.flows[fid]
        export = self.export_doc(fid)
        for rel in sorted(entry["files"]):
            if rel.startswith("versions/"):
                self._file(fid, rel)
        settings = self._file(fid, "flow.json")
        if not isinstance(settings, dict):
            raise ArchiveError(f"{self.where}: flow {fid}: flow.json is not an object")
        return settings, export
