"""Pure protocol rules, tested without a loop or a socket."""

from __future__ import annotations

import pytest

from flowvault.errors import AuthError, ProtocolError, ValidationError
from flowvault.protocol import backoff, decode, parse_page, retry_after


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_after({}) is None
    assert retry_after({"retry-after": "soon"}) is None


def test_backoff_grows_and_is_capped() -> None:
    assert backoff(0, jitter=1.0) < backoff(3, jitter=1.0) <= 20.0
    assert backoff(30, jitter=1.0) == 20.0


def test_decode_maps_statuses_to_typed_errors() -> None:
    with pytest.raises(AuthError, match="refused the API key"):
        decode(401, b'{"message": "Unauthenticated."}', method="GET", path="/x")
    with pytest.raises(ValidationError) as info:
        decode(422, b'{"message": "bad", "errors": {"flow.name": ["required"]}}', method="POST", path="/x")
    assert info.value.errors == {"flow.name": ["required"]}
    with pytest.raises(ProtocolError, match="not JSON"):
        decode(200, b"<html>", method="GET", path="/x")


def test_parse_page_rejects_replies_without_data_or_meta_and_endless_pages() -> None:
    with pytest.raises(ProtocolError, match="'data'"):
        parse_page({"meta": {}}, where="GET /x")
    with pytest.raises(ProtocolError, match="'meta'"):
        parse_page({"data": []}, where="GET /x")
    bad = {"data": [], "meta": {"current_page": 1, "last_page": 10**9, "total": 1, "per_page": 100}}
    with pytest.raises(ProtocolError, match="inconsistent"):
        parse_page(bad, where="GET /x")
