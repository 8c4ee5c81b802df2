"""Map files: ``[type] source_id = target_id`` per resource type and ``[secrets] KEY = "value"``.
``parse_map`` is pure; ``load_map`` reads the file and hands the text to it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from .errors import ConfigError
from .models import MapFile
from .protocol import flow_id
from .references import KEEP, NOT_A_REFERENCE, RESOURCE_TYPES


def parse_map(text: str, path: str) -> MapFile:
    """A map file (TOML, or JSON when it starts with '{'); ConfigError naming the file and entry."""
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML/JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a map file is a table of resource types")
    ids: dict[str, dict[int | str, int | str]] = {}
    secrets: dict[str, str] = {}
    rules: dict[str, str] = {}
    for rtype, table in data.items():
        if rtype == "secrets":
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise ConfigError(f"{path}: [secrets] values must be strings")
            secrets = {str(k): v for k, v in table.items()}
            continue
        if rtype == "references":
            kinds = (*RESOURCE_TYPES, NOT_A_REFERENCE, KEEP)
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: [references] must be a table of field = type")
            for fld, kind in table.items():
                if kind not in kinds:
                    raise ConfigError(f"{path}: [references] {fld} = {kind!r}: give one of {', '.join(kinds)}")
            rules = {str(k): str(v) for k, v in table.items()}
            continue
        if rtype not in RESOURCE_TYPES:
            raise ConfigError(f"{path}: unknown resource type '{rtype}' "
                              f"(known: {', '.join(RESOURCE_TYPES)}, references, secrets)")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{rtype}] must be a table of source_id = target_id")
        section: dict[int | str, int | str] = {}
        for src, tgt in table.items():
            if rtype == "flow":  # a positive integer (Patchworks) or a UUID (OCP)
                s, t = flow_id(src), flow_id(tgt)
            else:
                s = int(src) if str(src).isdigit() and int(src) > 0 else None
                t = tgt if isinstance(tgt, int) and not isinstance(tgt, bool) and tgt > 0 else None
            if s is None or t is None:
                kind = "positive integers or UUIDs" if rtype == "flow" else "positive integers"
                raise ConfigError(f"{path}: [{rtype}] {src} = {tgt!r}: IDs must be {kind}")
            section[s] = t
        ids[rtype] = section
    return MapFile(ids=ids, secrets=secrets, rules=rules)


def load_map(path: Path | str | None) -> MapFile:
    if path is None:
        return MapFile()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{p}: map file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a map file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: map file is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the map file ({e.strerror or e.__class__.__name__})") from None
    return parse_map(text, str(p))
