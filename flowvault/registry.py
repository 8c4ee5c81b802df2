"""Which providers exist: flowvault's own, and any an installed package registers under the
entry-point group ``flowvault.providers`` (``name = "module:Class"``) — the one list that the
config checks ``provider = …`` against and ``providers.provider_for`` loads from."""

from __future__ import annotations

from importlib.metadata import entry_points

GROUP = "flowvault.providers"
BUILTIN = {"patchworks": "flowvault.providers.patchworks:Patchworks", "ocp": "flowvault.providers.ocp:Ocp"}


def known() -> dict[str, str]:
    """Provider name → where its class is (``module:Class``); a package cannot replace a built-in."""
    found = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep.value)
    return found
