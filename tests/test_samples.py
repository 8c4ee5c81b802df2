"""Pure behaviour from recorded samples (samples/archive, made by an export of the simulator):
the proof after import, JSON held in strings, the listing fingerprint and flow IDs — no HTTP,
no event loop."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from flowvault.canonical import fingerprint
from flowvault.jsontext import holds_json, parse_with_spans, replace_spans
from flowvault.proof import differences
from flowvault.protocol import flow_id

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "archive" / "flows"


def sample_export() -> dict[str, Any]:
    folder = next(p for p in sorted(SAMPLES.iterdir()) if p.name.startswith("1077-"))
    return orjson.loads((folder / "export.json").read_bytes())  # type: ignore[no-any-return]


def renumbered(flow: dict[str, Any], offset: int) -> dict[str, Any]:
    """The flow as the target would read it back: its own version and step IDs (and the
    children that point at them)."""
    out = copy.deepcopy(flow)
    for v in out.get("versions") or []:
        if "id" in v:
            v["id"] += offset
        for s in v.get("steps") or []:
            s["id"] += offset
            if isinstance(s.get("children"), list):
                s["children"] = [c + offset for c in s["children"]]
    return out


def test_the_proof_ignores_the_targets_own_ids_and_names_a_lost_step() -> None:
    sent = sample_export()["flow"]
    assert differences(sent, renumbered(sent, 5000)) == []
    got = renumbered(sent, 5000)
    got["versions"][0]["steps"].pop()
    said = differences(sent, got)
    assert said and "steps sent" in said[0] and "read back" in said[0]
    got = renumbered(sent, 5000)
    got["versions"][0]["steps"][0]["name"] = "renamed by the target"
    assert any("name differ" in line for line in differences(sent, got))


def test_json_in_a_string_keeps_every_byte_but_the_value_replaced() -> None:
    text = '{ "a" : 1,\n  "b": "x\\u00e9", "c": [2, {"d": 1055}] }'
    value, spans = parse_with_spans(text)
    assert value == {"a": 1, "b": "xé", "c": [2, {"d": 1055}]}
    out = replace_spans(text, spans, {("c", 1, "d"): 2099})
    assert out == text.replace("1055", "2099")
    assert holds_json("  [1]") and holds_json("{}") and not holds_json("plain {text}") and not holds_json("")
    for broken in ('{"a": }', '{"a": 1} trailing', "[1, 2", '{"a" 1}'):
        with pytest.raises(ValueError):
            parse_with_spans(broken)


def test_the_fingerprint_moves_with_an_edit_or_a_stamp_and_not_with_a_run_counter() -> None:
    listed = {"id": 1077, "name": "Export refunds", "updated_at": "2026-11-20T10:00:00Z", "runs_count": 4,
              "versions": [{"id": 1090, "updated_at": "2026-11-20T10:00:00Z", "variables": [
                  {"key": "API_TOKEN", "value": "s3cret", "secret": "1"}]}]}
    base = fingerprint(listed)
    assert fingerprint({**listed, "runs_count": 99}) == base  # a counter is no edit
    assert fingerprint({**listed, "name": "Export refunds v2"}) != base
    assert fingerprint({**listed, "updated_at": "2026-11-21T10:00:00Z"}) != base
    stamped = copy.deepcopy(listed)
    stamped["versions"][0]["updated_at"] = "2026-11-22T00:00:00Z"
    assert fingerprint(stamped) != base
    secret_changed = copy.deepcopy(listed)
    secret_changed["versions"][0]["variables"][0]["value"] = "other"
    assert fingerprint(secret_changed) == base  # the digest says nothing about secret values
    assert "s3cret" not in base


@pytest.mark.parametrize(("raw", "expected"), [
    (1077, 1077), ("1077", 1077), ("03", 3), (True, None), (0, None), (-4, None), (2.5, None), ("３", None),
    ("../x", None), (10**16, None), ("9F1C2A4E-0B7D-4C3A-8E21-5D6F7A8B9C0D", "9f1c2a4e-0b7d-4c3a-8e21-5d6f7a8b9c0d"),
    ("9f1c2a4e-0b7d-4c3a-8e21", None), (None, None),
])
def test_flow_ids_are_normalised_once_or_refused(raw: Any, expected: Any) -> None:
    assert flow_id(raw) == expected
