"""Which providers exist: flowvault's own, and any an installed package registers under the
entry-point group ``flowvault.providers`` (``name = "module:Class"``) — the one list that the
config checks ``provider = …`` against and ``providers.provider_for`` loads from."""

from __future__ import annotations

GROUP = "flowvault.providers"
BUILTIN = {"patchworks": "flowvault.providers.patchworks:Patchworks", "ocp": "flowvault.providers.ocp:Ocp"}


def known() -> dict[str, str]:
    """Provider name → where its class is (``module:Class``); a package cannot replace a built-in."""
    from importlib.metadata import entry_points  # read only when asked: the installed packages' metadata

    found = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def where(name: str) -> str | None:
    """Where provider ``name``'s class is, None when no one provides it: a built-in without reading
    the installed packages (a config of 200 profiles is checked without 200 scans)."""
    return BUILTIN.get(name) or known().get(name)
