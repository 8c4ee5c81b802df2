"""The gate before every commit: the files about to be written are searched for every secret
value this run hid and for well-known credential formats (the maintained detectors of the
``detect-secrets`` package; the only module that imports it). A hit names the file and the
rule, never the value."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from typing import Any

#: detectors of a format, not of entropy: entropy detectors flag every hash and UUID in a flow
DETECTORS = (
    "ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
    "CloudantDetector", "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector",
    "IbmCloudIamDetector", "IbmCosHmacDetector", "JwtTokenDetector", "MailchimpDetector", "NpmDetector",
    "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector", "SendGridDetector", "SlackDetector",
    "SoftlayerDetector", "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)
_SETTINGS = {"plugins_used": [{"name": n} for n in DETECTORS]}
#: a line worth handing to the detectors: a long token-like run (every format above has one), a
#: private-key header, or credentials in a URL. Most lines of a flow have none of these. Found
#: over the file's bytes at C speed: the token characters mapped to one letter and everything else
#: to a space, a run of 20 is a substring search; the other two start with a literal.
TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
_RUNS = bytes(0x61 if i in TOKEN_CHARS else 0x20 for i in range(256))
_RUN = b"a" * 20
OTHER_TRIGGERS = re.compile(rb"PRIVATE KEY|://[^/\s:@\"]+:[^/\s@\"]+@")
#: a JSON key that is a snake_case name (``"virtual_environment_id":``): a long one is not a token,
#: and such keys are most of the runs found
SNAKE = re.compile(rb"(?:[a-z][a-z0-9]*_)+[a-z0-9]+")
_KEY_END = re.compile(rb'"[ \t]*:')


def trigger_starts(data: bytes) -> list[int]:
    """Where the triggers of ``data`` start (offsets, in order), snake_case keys left out."""
    starts: list[int] = []
    runs = data.translate(_RUNS)
    at = runs.find(_RUN)
    while at >= 0:
        end = runs.find(b" ", at)
        end = len(data) if end < 0 else end
        if not (at and data[at - 1] == 0x22 and SNAKE.fullmatch(data, at, end) and _KEY_END.match(data, end)):
            starts.append(at)
        at = runs.find(_RUN, end)
    if b"PRIVATE KEY" in data or b"://" in data:
        starts = sorted(starts + [m.start() for m in OTHER_TRIGGERS.finditer(data)])
    return starts


@functools.cache
def _scanner() -> Any:
    """detect-secrets' ``scan_line``, loaded on the first line worth scanning (it brings ``requests``
    along: 60 ms a process) with its settings — its module's globals — set to DETECTORS once per
    process (flowvault is their only user), not per call: each change rebuilds its plugin caches."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import cache_bust, configure_settings_from_baseline

    cache_bust()
    configure_settings_from_baseline(_SETTINGS)
    return scan_line


def leaks(files: Iterable[tuple[str, bytes]], values: set[str]) -> list[tuple[str, str]]:
    """(path, rule) for each file holding a hidden value or a credential-shaped string."""
    needles = [v.encode() for v in values if len(v) >= 4]
    found: list[tuple[str, str]] = []
    for path, data in files:
        if any(n in data for n in needles):
            found.append((path, "a secret value this run hid"))
            continue
        lines: list[bytes] | None = None
        last, number, at = -1, 0, 0
        for start in trigger_starts(data):  # only lines with a trigger go on
            number += data.count(b"\n", at, start)
            at = start
            if number == last:
                continue
            last = number
            lines = lines if lines is not None else data.split(b"\n")
            hits = list(_scanner()(lines[number].decode("utf-8", "replace")))
            if hits:
                found.append((path, hits[0].type))
                break
    return found
