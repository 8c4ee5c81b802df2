"""One rule for secrets: every consumer — export cleaning, the UI's masking, the import's filling,
the live secrets a replace keeps, the keys an import asks for — agrees on the same documents."""

from __future__ import annotations

from typing import Any

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from flowvault.canonical import REDACTED, Secrets, clean, is_hidden, map_secrets, secret_fields
from flowvault.references import fill_secrets, hidden_keys
from flowvault.ui.model import masked

FLAGS = [True, False, 1, 0, "1", "0", "true", "false", "yes", "no", "on", "ON", "True", None]
NAMES = ["API_TOKEN", "PAGE_SIZE", "client_secret", "password", "region", "DB_PASSWD", "webhook_url", "PAGE_TOKEN"]
values = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
variable = st.fixed_dictionaries({"key": st.sampled_from(NAMES), "value": values, "secret": st.sampled_from(FLAGS)})
field = st.dictionaries(st.sampled_from(["api_key", "hmac_secret_key", "url", "name", "authorization", "format"]),
                        values, max_size=3)
document = st.recursive(st.lists(variable, max_size=4).map(lambda vs: {"variables": vs}) | field,
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                            st.sampled_from(["flow", "versions", "steps", "config"]), inner, max_size=2),
                        max_leaves=6)


def leaves(doc: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    if isinstance(doc, dict):
        return {p: v for k, val in doc.items() for p, v in leaves(val, (*path, k)).items()}
    if isinstance(doc, list):
        return {p: v for i, val in enumerate(doc) for p, v in leaves(val, (*path, i)).items()}
    return {path: doc}


def spot_paths(doc: Any, allow: frozenset[str] = frozenset()) -> set[tuple[Any, ...]]:
    """The paths of the values the one rule calls secret."""
    return set(_names(doc, allow))


@settings(max_examples=150, deadline=None)
@given(document, st.sampled_from([frozenset(), frozenset({"PAGE_TOKEN"})]))
def test_every_consumer_agrees_on_where_the_secrets_are(doc: Any, allow: frozenset[str]) -> None:
    secret = spot_paths(doc, allow)
    plain = leaves(doc)
    # export: exactly those values are hidden, everything else kept as it was
    policy = Secrets("redact", allow)
    cleaned = leaves(clean(doc, policy))
    assert {p for p, v in cleaned.items() if v == REDACTED} == secret
    assert all(cleaned[p] == v for p, v in plain.items() if p not in secret)
    assert policy.flagged + policy.by_name == len(secret)
    # the UI: those values (and, with no allow-list, the allow-listed ones too) never shown
    shown = leaves(masked(doc))
    assert all(shown[p] == "(secret)" for p in secret)
    assert all(shown[p] == v for p, v in plain.items() if p not in spot_paths(doc))
    # import: the archived document asks for exactly those keys, and filling puts the values back
    archived = clean(doc, Secrets("redact", allow))
    redacted, sealed = hidden_keys(archived)
    assert len(redacted) == len(secret) and not sealed
    names = {h_name: leaves(doc)[p] for p, h_name in _names(doc, allow).items()}
    archived = fill_secrets(archived, names)
    refilled = leaves(archived)
    assert all(refilled[p] == names[_names(doc, allow)[p]] for p in secret)
    # replace: the live secrets read from a flow are those values, by name
    live: dict[str, str] = {}
    map_secrets(doc, lambda n, v, _f: live.setdefault(n, v) and None)
    assert set(live) == set(_names(doc, frozenset()).values())


def _names(doc: Any, allow: frozenset[str]) -> dict[tuple[Any, ...], str]:
    """path → the name the rule gives each secret value."""
    out: dict[tuple[Any, ...], str] = {}

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for k, (name, _) in secret_fields(node, allow).items():
                out[(*path, k)] = name
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(doc, ())
    return out


def test_the_providers_live_secrets_use_the_rule(make_server: Any, tmp_path: Any, monkeypatch: Any) -> None:
    """A replace keeps the live flow's secrets: the provider reads them (over HTTP, from the
    simulator's export document) by the same rule, every value the rule names and no other."""
    from flowvault.providers import client_for
    from flowvault.config import load_config
    from flowvault.providers.patchworks import Patchworks

    from .conftest import write_config

    server = make_server(flows=4, companies=1, secret_flag="string-1")
    prof = load_config(write_config(tmp_path / "fv.toml", server, monkeypatch)).profile("company-a")
    company = server.sim.company(0)
    fid = sorted(company.flows)[0]

    async def go() -> tuple[dict[str, str], Any]:
        async with client_for(prof) as api:
            return await Patchworks().live_secrets(api, fid), await api.post("/api/v1/flows/export", {"flow_id": fid})

    live, doc = anyio.run(go)
    expected: dict[str, str] = {}
    map_secrets(doc["flow"], lambda n, v, _f: expected.setdefault(n, v) and None)
    assert live == expected and live



def test_secrets_inside_json_held_in_a_string_follow_the_same_rule() -> None:
    """A step's config as JSON text: its credential-named fields are hidden at export (the rest of
    the text kept byte for byte), listed by import, filled back, and never shown by the UI."""
    config = '{"endpoint": "https://x.test",  "password": "hunter2", "nested": "{\\"api_key\\": \\"k3y\\"}"}'
    doc = {"steps": [{"name": "Connector", "config": config}]}
    policy = Secrets("redact")
    archived = clean(doc, policy)
    text = archived["steps"][0]["config"]
    assert "hunter2" not in text and "k3y" not in text and policy.values == {"hunter2", "k3y"}
    assert text.startswith('{"endpoint": "https://x.test",  "password": "<redacted by flowvault>"')
    redacted, _ = hidden_keys(archived)
    assert sorted(redacted) == ["api_key", "password"]
    back = fill_secrets(archived, {"password": "hunter2", "api_key": "k3y"})
    assert back == doc  # every other byte of the text as it was
    shown = masked(doc)["steps"][0]["config"]
    assert "hunter2" not in shown and "k3y" not in shown and "(secret)" in shown


TOKENS = ["ghp_" + "a1B2" * 9, "AKIAIOSFODNN7EXAMPLE", "-----BEGIN RSA PRIVATE KEY-----", "https://user:pw@host/x",
          "very_long_snake_case_key_name", "short", "é ß", "x" * 19, "y" * 20, "a/b+c=d-e_f" * 3]
line = st.lists(st.sampled_from(TOKENS) | st.text(alphabet=' "{}:,\\é_-aZ09', max_size=8), max_size=5).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(line, line.map(lambda t: f'  "{t}": 1,')), max_size=8).map("\n".join))
def test_the_gate_hands_over_the_lines_the_plain_rule_names(text: str) -> None:
    """The gate finds its trigger lines at C speed; they are exactly the lines the plain rule names:
    a run of 20 token characters, a private-key header or credentials in a URL, once snake_case
    JSON keys are left out."""
    import re

    from flowvault.secretscan import trigger_starts

    data = text.encode()
    rule = re.compile(r"[A-Za-z0-9+/=_\-]{20,}|PRIVATE KEY|://[^/\s:@\"]+:[^/\s@\"]+@", re.ASCII)
    keys = re.compile(r'"(?:[a-z][a-z0-9]*_)+[a-z0-9]+"[ \t]*:')
    expected = {n for n, ln in enumerate(text.split("\n")) if rule.search(keys.sub("", ln))}
    assert {data.count(b"\n", 0, at) for at in trigger_starts(data)} == expected
