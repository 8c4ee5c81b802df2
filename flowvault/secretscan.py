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
#: a line worth handing to the detectors: a long token-like run (every format above has one),
#: a private-key header, or credentials in a URL. Most lines of a flow have none of these.
TRIGGER = re.compile(r"[A-Za-z0-9+/=_\-]{20,}|PRIVATE KEY|://[^/\s:@\"]+:[^/\s@\"]+@")
#: a JSON key that is a snake_case name (``"virtual_environment_id":``): a long one is not a token,
#: and such keys are most of the lines TRIGGER would otherwise hand over
NAME_KEY = re.compile(r'"(?:[a-z][a-z0-9]*_)+[a-z0-9]+"[ \t]*:')  # never across a line break


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
        text = data.decode("utf-8", "replace")
        stripped = NAME_KEY.sub("", text)  # the same lines, without their snake_case keys
        lines: list[str] | None = None
        last, number, at = -1, 0, 0
        for m in TRIGGER.finditer(stripped):  # one pass over the file: only lines with a trigger go on
            number += stripped.count("\n", at, m.start())
            at = m.start()
            if number == last:
                continue
            last = number
            lines = lines if lines is not None else text.split("\n")
            hits = list(_scanner()(lines[number]))
            if hits:
                found.append((path, hits[0].type))
                break
    return found
