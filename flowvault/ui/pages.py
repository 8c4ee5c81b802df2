"""The review pages as HTML: overview, flow, diff, deleted flows (Jinja2 templates, autoescaped).

Read-only: every page reads the archive's git history (``History``/``Snapshot``) and never
writes. Used by the local web app (``flowvault ui``) and by ``flowvault diff --format html``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..archive import FLOWS_DIR, IMPORTS_DIR, MANIFEST, Snapshot, id_key
from ..errors import ArchiveError, FlowvaultError, UsageError
from ..flowdiff import RELATIONS, ChangeSet, Changes, VersionChange, change_set, masked, relation_items, shown, \
    step_marks, version_change
from ..history import Commit, History
from ..models import FAILED_TRAILER, Source
from ..snapshots import deleted, open_snapshot
from .model import step_details, step_graph

ENV = Environment(loader=PackageLoader("flowvault.ui", "templates"), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)
ENV.filters["shown"] = shown
ENV.filters["human"] = lambda key: re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(key)).replace("_", " ").lower()
DETAILED = 100  # changed flows drawn in full on one diff page; the rest are listed


def find_archives(root: Path) -> dict[str, Path]:
    """The archives under ``root``: itself, or each folder in it that is one (ROOT/<profile>)."""
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder")
    if (root / MANIFEST).exists():
        return {root.resolve().name or "archive": root}
    if (root / ".git").exists():
        raise UsageError(f"{root}: a git repository without {MANIFEST}: not a flowvault archive (or nothing "
                         "exported into it yet)")
    found = {p.name: p for p in sorted(root.iterdir())
             if p.is_dir() and (p / MANIFEST).exists() and (p / ".git").exists()}
    if not found:
        raise UsageError(f"{root}: not a flowvault archive, and holds no archive folders (ROOT/<profile>)")
    return found


def read_report(path: Path) -> dict[str, Any]:
    """A run report written by ``export --report`` (read on each page load: it changes nightly)."""
    from ..canonical import loads

    try:
        data = loads(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such run report") from None
    except ValueError:
        raise UsageError(f"{path}: not a flowvault run report (not JSON)") from None
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        raise UsageError(f"{path}: not a flowvault run report (no 'profiles')")
    return data


def render(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


FAILED_LINE = "failed (kept previous copy): "


def last_run(commit: Commit | None, report: dict[str, Any] | None, profile: str | None) -> dict[str, Any]:
    """How the last export ended: from the run report (``--report``) when it covers this
    archive's profile — it also knows runs that committed nothing — else from the last
    export commit's message (its subject counts failures, its body names them and why)."""
    entry = (report or {}).get("profiles", {}).get(profile) if profile else None
    if isinstance(entry, dict):
        failed = entry.get("failed")
        failed = failed if isinstance(failed, dict) else {}
        ids = entry.get("failed_ids")
        return {"status": str(entry.get("status", "?")), "when": str((report or {}).get("finished_at", "")),
                "failed": [f"{k}: {v}" for k, v in failed.items()], "error": entry.get("error"),
                "failed_ids": {str(i) for i in ids} if isinstance(ids, list) else set(), "source": "run report"}
    if commit is None:
        return {"status": "no run yet", "when": "", "failed": [], "failed_ids": set(), "error": None, "source": ""}
    failed = [line.removeprefix(FAILED_LINE) for line in commit.message.splitlines() if line.startswith(FAILED_LINE)]
    partial = bool(failed) or " failed" in commit.summary
    return {"status": "partial" if partial else "ok", "when": commit.date, "failed": failed, "error": None,
            "failed_ids": set(commit.trailers.get(FAILED_TRAILER, ())), "source": "last export commit"}


# -- overview -------------------------------------------------------------------------


def exports_of(history: History, max_count: int = 1) -> list[Commit]:
    """The newest export commits: the commits that touched the manifest (an import commits only
    its ID map, under imports/), so an import or restore never stands in for the night's export."""
    return history.log([MANIFEST], max_count=max_count)


def last_export(root: Path) -> str | None:
    found = exports_of(History.open(root))
    return found[0].sha if found else None


PAGE_SIZE = 100  # flows listed per archive and page: a 2,000-flow overview stays small
SORTS = {"changed": "changed in the last export first", "name": "name", "id": "ID", "versions": "versions"}


def changed_in(history: History, commit: Commit | None) -> set[str]:
    """The flows an export commit added or changed (their manifest entries differ from its parent's)."""
    if commit is None:
        return set()
    new = open_snapshot(history, commit.sha).flows
    parent = parent_of(history.root, commit.sha)
    old = open_snapshot(history, parent).flows if parent else {}
    return {fid for fid, e in new.items() if old.get(fid, {}).get("files") != e.get("files")}


ONLY = {"changed": "changed in the last export", "failed": "failed in the last export (kept their copy)",
        "disabled": "disabled"}
_FACTS: dict[tuple[str, str], dict[str, tuple[bool, tuple[str, ...]]]] = {}  # (archive, commit) → flow facts


def flow_facts(history: History, sha: str, snap: Snapshot) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Flow ID → (enabled, label names) at a commit, from each flow.json; kept for the last few
    commits asked for (a commit never changes, and an overview asks on every load)."""
    key = (str(history.root), sha)
    if key not in _FACTS:
        facts = {}
        for fid in snap.flows:
            try:
                settings = snap.read_json(fid, "flow.json")
            except ArchiveError:
                continue  # an unreadable flow is verify's to name; the overview lists it all the same
            labels = settings.get("labels") if isinstance(settings, dict) else None
            names = tuple(str(x.get("name")) for x in relation_items(labels) or [] if isinstance(x, dict))
            facts[fid] = (bool(isinstance(settings, dict) and settings.get("enabled_at")), names)
        while len(_FACTS) >= 4:
            _FACTS.pop(next(iter(_FACTS)))
        _FACTS[key] = facts
    return _FACTS[key]


def listed_flows(snap: Snapshot, changed: set[str], failed: set[str], q: str = "", sort: str = "changed",
                 only: str = "", page: int = 1, facts: dict[str, tuple[bool, tuple[str, ...]]] | None = None,
                 label: str = "") -> dict[str, Any]:
    """One page of an archive's flows: found by part of the name or the ID, optionally only those
    changed (or failed) in the last export, disabled, or with a label, sorted; with the total that matched."""
    needle = q.strip().casefold()
    facts = facts or {}
    keep = {"changed": changed, "failed": failed,
            "disabled": {fid for fid, (enabled, _) in facts.items() if not enabled}}.get(only)
    rows = [{"id": fid, "name": str(e.get("name")), "versions": e.get("versions"), "changed": fid in changed,
             "failed": fid in failed, "disabled": not facts.get(fid, (True, ()))[0],
             "labels": facts.get(fid, (True, ()))[1]}
            for fid, e in snap.flows.items()
            if (not needle or needle in str(e.get("name")).casefold() or needle == fid)
            and (keep is None or fid in keep) and (not label or label in facts.get(fid, (True, ()))[1])]
    keys: dict[str, Any] = {
        "changed": lambda r: (not r["changed"], r["name"].casefold(), id_key(r["id"])),
        "name": lambda r: (r["name"].casefold(), id_key(r["id"])),
        "id": lambda r: id_key(r["id"]),
        "versions": lambda r: (-(r["versions"] or 0), r["name"].casefold())}
    rows.sort(key=keys.get(sort, keys["changed"]))
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(1, page), pages)
    return {"rows": rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], "matched": len(rows), "page": page,
            "pages": pages, "total": len(snap.flows)}


def overview(archives: dict[str, Path], base: str = "", report: dict[str, Any] | None = None,
             query: dict[str, str] | None = None) -> str:
    query = query or {}
    try:
        page = int(query.get("page") or 1)
    except ValueError:
        raise UsageError("'page' is not a number") from None
    sort = query.get("sort") or "changed"
    if sort not in SORTS:
        raise UsageError(f"'sort' is one of {', '.join(SORTS)}")
    if query.get("only") and query["only"] not in ONLY:
        raise UsageError(f"'only' is one of {', '.join(ONLY)}")
    cards = []
    for name, root in archives.items():
        history = History.open(root)
        commits = history.log(max_count=8)
        exports = exports_of(history, max_count=8)
        export_shas = {c.sha for c in exports}
        kinds = {c.sha: "export" if c.sha in export_shas else "import" for c in commits}
        flows: dict[str, Any] = {"rows": [], "matched": 0, "page": 1, "pages": 1, "total": 0, "all_labels": []}
        source = Source()
        if commits:
            snap = open_snapshot(history, "HEAD")
            source = Source.of(snap.manifest) or Source()
        run = last_run(exports[0] if exports else None, report, source.profile)
        if commits:
            failed = run["failed_ids"]
            facts = flow_facts(history, history.resolve("HEAD"), snap)
            flows = listed_flows(snap, changed_in(history, exports[0] if exports else None), failed,
                                 query.get("q", ""), sort, query.get("only", ""), page, facts, query.get("label", ""))
            flows["all_labels"] = sorted({n for _, names in facts.values() for n in names})
        cards.append({"name": name, "commits": commits, "kinds": kinds, "flows": flows, "source": source,
                      "run": run, "last_export": exports[0] if exports else None})
    return render("overview.html", cards=cards, base=base, title="flowvault archives", query=query, sort=sort,
                  sorts=SORTS, only=ONLY)


# -- flow page ------------------------------------------------------------------------


def _versions(snap: Snapshot, fid: str) -> list[tuple[str, dict[str, Any]]]:
    entry = snap.flows[fid]
    rels = sorted((r for r in entry["files"] if r.startswith("versions/")),
                  key=lambda r: id_key(r.removeprefix("versions/").removesuffix(".json")))
    out = []
    for rel in rels:
        doc = snap.read_json(fid, rel)
        out.append((rel.removeprefix("versions/").removesuffix(".json"), doc if isinstance(doc, dict) else {}))
    return out


def flow_page(name: str, root: Path, fid: str, rev: str | None, base: str = "") -> str:
    history = History.open(root)
    snap = open_snapshot(history, rev or "HEAD")
    if fid not in snap.flows:
        raise UsageError(f"{snap.where}: no flow #{fid}")
    settings = snap.read_json(fid, "flow.json")
    settings = masked(settings if isinstance(settings, dict) else {})
    versions = []
    previous_id = None
    for vid, doc in _versions(snap, fid):
        versions.append({"id": vid, "doc": masked(doc), "graph": Markup(step_graph(doc.get("steps") or [])),
                         "previous": previous_id, "steps": step_details(doc.get("steps") or [])})
        previous_id = vid
    plain = {k: v for k, v in settings.items() if k not in RELATIONS and not isinstance(v, (dict, list))}
    relations = {k: relation_items(settings[k]) for k in sorted(RELATIONS) if relation_items(settings.get(k))}
    empty = [k for k in sorted(RELATIONS) if relation_items(settings.get(k)) == []]
    commits = history.log([f"{FLOWS_DIR}/{fid}-*"])
    imported = imported_as(history, snap, rev)
    return render("flow.html", archive=name, fid=fid, flow_name=snap.flows[fid].get("name"), rev=rev,
                  settings=plain, relations=relations, empty=empty, versions=versions, commits=commits, base=base,
                  in_archive=set(snap.flows), imported=imported,
                  title=f"{snap.flows[fid].get('name')} (#{fid})")


def imported_as(history: History, snap: Snapshot, rev: str | None) -> dict[str, list[tuple[str, str]]]:
    """Source flow → (target profile, target flow ID) from the ID maps the imports recorded
    (``imports/<profile>.json``) in the same revision."""
    from ..canonical import loads

    sha = history.resolve(rev or "HEAD") if history.head() is not None else None
    out: dict[str, list[tuple[str, str]]] = {}
    for path in history.files_at(sha, IMPORTS_DIR) if sha else []:
        raw = snap.read_path(path)
        try:
            flows = loads(raw or b"{}").get("flows") or {}
        except (ValueError, AttributeError):
            continue  # an ID map that does not parse is the importer's to refuse, not a page's
        profile = path.removeprefix(f"{IMPORTS_DIR}/").removesuffix(".json")
        for src, entry in flows.items() if isinstance(flows, dict) else []:
            if isinstance(entry, dict) and "target_id" in entry:
                out.setdefault(str(src), []).append((profile, str(entry["target_id"])))
    return out


def version_diff_page(name: str, root: Path, fid: str, rev: str | None, old_vid: str, new_vid: str,
                      base: str = "") -> str:
    """One version against another of the same flow (e.g. the previous one)."""
    snap = open_snapshot(History.open(root), rev or "HEAD")
    if fid not in snap.flows:
        raise UsageError(f"{snap.where}: no flow #{fid}")
    docs = dict(_versions(snap, fid))
    if old_vid not in docs or new_vid not in docs:
        raise UsageError(f"{snap.where}: flow #{fid} has no version {old_vid if old_vid not in docs else new_vid}")
    block = _version_block(version_change(new_vid, docs[old_vid], docs[new_vid], across_versions=True))
    return render("vdiff.html", archive=name, fid=fid, flow_name=snap.flows[fid].get("name"), old=old_vid,
                  new=new_vid, block=block, base=base, title=f"version {old_vid} → {new_vid}")


# -- diff -----------------------------------------------------------------------------


def _version_block(v: VersionChange) -> dict[str, Any]:
    """One version's change as the page draws it: its graph with the steps marked, their buttons,
    the paths — all from the change set."""
    if v.status == "unreadable":
        return {"id": v.vid, "status": v.status, "graph": Markup(""), "changes": Changes()}
    marks, removed = step_marks(v.steps)
    if v.new is None:
        graph = step_graph([], {}, list((v.old or {}).get("steps") or []))
    else:
        graph = step_graph((v.new or {}).get("steps") or [], marks, removed)
    block = {"id": v.vid, "status": v.status, "graph": Markup(graph), "changes": v.paths()}
    if v.status == "changed":
        block["marked"] = [(s.sid, s.name, s.status) for s in v.steps]
    return block


def compare(old: Snapshot | None, new: Snapshot, only: str | None = None) -> dict[str, Any]:
    """The page's view of the change set of two snapshots: up to DETAILED changed flows drawn
    (graphs and paths), the rest listed."""
    found = change_set(old, new, only, detail=DETAILED)
    detailed = [{"fid": f.flow_id, "name": f.name, "settings": f.settings or None,
                 "versions": [_version_block(v) for v in f.versions],
                 "note": "only the export document differs" if f.export_only else ""}
                for f in found.changed if f.detailed]
    return {"added": [(f.flow_id, f.name) for f in found.added], "removed": [(f.flow_id, f.name) for f in found.removed],
            "changed": detailed, "more": [(f.flow_id, f.name) for f in found.changed if not f.detailed],
            "changed_count": len(found.changed), "set": found}


def diff_page(name: str, root: Path, old_rev: str | None, new_rev: str | None, *, only: str | None = None,
              base: str = "", standalone: bool = False) -> str:
    """The diff of two revisions (``new_rev`` None: the work tree; ``old_rev`` "" : nothing)."""
    return diff_and_page(name, root, old_rev, new_rev, only=only, base=base, standalone=standalone)[0]


def diff_and_page(name: str, root: Path, old_rev: str | None, new_rev: str | None, *, only: str | None = None,
                  base: str = "", standalone: bool = False) -> tuple[str, ChangeSet]:
    """The diff page and the change set it draws (``--exit-code`` answers from the same value)."""
    history = History.open(root)
    old = None if old_rev == "" else open_snapshot(history, old_rev)
    new = open_snapshot(history, new_rev)
    data = compare(old, new, only)
    return render("diff.html", archive=name, old=_side(history, old), new=_side(history, new), d=data, base=base,
                  source=Source.of(new.manifest) or Source(), standalone=standalone,
                  title=f"{name}: {_label(old)} → {_label(new)}"), data["set"]


def _side(history: History, snap: Snapshot | None) -> dict[str, Any]:
    """One side of a diff: its label, the revision its links carry (None: the work tree, or
    nothing) and its commit (date, message)."""
    label = _label(snap)
    rev = label if snap is not None and "@" in snap.where else None
    commit = history.log(max_count=1, rev=rev)[0] if rev else None
    return {"label": label, "rev": rev, "commit": commit}


def _label(snap: Snapshot | None) -> str:
    """A side of a diff as a reader names it: the commit's short SHA, or the work tree."""
    if snap is None:
        return "(nothing)"
    return snap.where.rsplit("@", 1)[1] if "@" in snap.where else "work tree"


def parent_of(root: Path, sha: str) -> str:
    """The revision before ``sha`` for a diff, or "" (nothing) for the first commit — and for a
    commit before the first export (an archive kept in a repository that had other files first)."""
    history = History.open(root)
    try:
        parent = history.resolve(f"{sha}~1")
    except (UsageError, ArchiveError):
        return ""
    return parent if history.read(parent, MANIFEST) is not None else ""


# -- deleted flows ---------------------------------------------------------------------


#: in a restore command for an encrypted archive: the user names their age identity file here
IDENTITY_PLACEHOLDER = "AGE_IDENTITY_FILE"


def restore_command(config: Path, profile: str, root: Path, flow_id: str, sha: str, encrypted: bool,
                    name_taken: bool = False) -> str:
    """The command that brings one deleted flow back, runnable as printed from any folder
    (absolute paths); ``--on-conflict rename`` when a flow of the archive's last export has its
    name (skip would refuse); for an encrypted archive it names ``--identity`` with a placeholder,
    so that run unfilled it fails loudly instead of restoring empty credentials."""
    args = ["flowvault", "restore", "--config", str(config.resolve()), "--target", profile,
            "--archive", str(root.resolve()), "--flow", flow_id, "--at", sha[:12]]
    if name_taken:
        args += ["--on-conflict", "rename"]
    if encrypted:
        args += ["--identity", IDENTITY_PLACEHOLDER]
    return shlex.join(args)


def deleted_page(name: str, root: Path, base: str = "", config: Path = Path("flowvault.toml")) -> str:
    from ..config import load_config

    history = History.open(root)
    profile = "PROFILE"
    names: set[str] = set()
    if history.head() is not None:
        head = open_snapshot(history, "HEAD")
        names = {str(e.get("name")) for e in head.flows.values()}
        source = Source.of(head.manifest)
        if source is not None and source.profile:
            profile = source.profile
    try:  # only to name the variable that must hold the key where the command runs
        key_env: str | None = load_config(config).profile(profile).api_key_env
        config_problem = None
    except FlowvaultError as e:  # the config cannot serve the command: said on the page
        key_env, config_problem = None, str(e)
    rows = []
    for d in deleted(history):
        encrypted = open_snapshot(history, d.last_commit.sha).manifest.get("secrets") == "encrypted"
        rows.append({"id": d.flow_id, "name": d.name, "commit": d.last_commit, "encrypted": encrypted,
                     "deleted_in": d.deleted_in,
                     "command": restore_command(config, profile, root, d.flow_id, d.last_commit.sha, encrypted,
                                                d.name in names)})
    return render("deleted.html", archive=name, rows=rows, base=base, title=f"deleted flows — {name}",
                  key_env=key_env, config=str(config.resolve()), config_problem=config_problem,
                  placeholder=IDENTITY_PLACEHOLDER)
