"""Pure: compare a flow read back from the target with the document flowvault sent, modulo
IDs the target assigns (steps, versions, variables…) and volatile fields. Differences are
named by place, never by value (a value may be a secret)."""

from __future__ import annotations

from typing import Any

from .canonical import clean
from .references import STRUCTURAL


def _strip(node: Any, key: str | None = None) -> Any:
    """The node without the target's own IDs: structural keys, and IDs inside own parts."""
    if isinstance(node, dict):
        return {k: _strip(v, k) for k, v in node.items()
                if k not in STRUCTURAL and not k.endswith("_step_id") and k != "position"}
    if isinstance(node, list):
        if key in ("children", "routes") and all(isinstance(v, int) for v in node):
            return len(node)  # step IDs: only how many
        return [_strip(v, key) for v in node]
    return node


def _versions(doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    out = {}
    for v in doc.get("versions") or []:
        if isinstance(v, dict):
            out[int(v.get("iteration", 0) or 0)] = v
    return out


def differences(sent: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What differs between the ``flow`` object sent and the one read back; empty when the same."""
    a, b = clean(sent, None), clean(got, None)
    out: list[str] = []
    if a.get("name") != b.get("name"):
        out.append("name")
    va, vb = _versions(a), _versions(b)
    if sorted(va) != sorted(vb):
        out.append(f"versions {sorted(va)} sent, {sorted(vb)} read back")
    for it in sorted(set(va) & set(vb)):
        sa, sb = va[it].get("steps") or [], vb[it].get("steps") or []
        if len(sa) != len(sb):
            out.append(f"version {it}: {len(sa)} steps sent, {len(sb)} read back")
        for j, (x, y) in enumerate(zip(sa, sb, strict=False)):
            x2, y2 = _strip(x), _strip(y)
            if x2 != y2:
                keys = sorted(k for k in set(x2) | set(y2) if x2.get(k) != y2.get(k)) \
                    if isinstance(x2, dict) and isinstance(y2, dict) else ["step"]
                out.append(f"version {it} step {j + 1} '{(x or {}).get('name', '')}': {', '.join(keys)} differ")
        for what in ("variables", "schedules"):
            xa = _strip(va[it].get(what) or [], what)
            xb = _strip(vb[it].get(what) or [], what)
            if what == "schedules":
                xa = sorted(str(s.get("cron_string")) for s in xa if isinstance(s, dict))
                xb = sorted(str(s.get("cron_string")) for s in xb if isinstance(s, dict))
            if xa != xb:
                out.append(f"version {it}: {what} differ")
    return out
