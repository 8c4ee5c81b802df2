"""Secret values encrypted to an age recipient (the only module that imports pyrage).

Stored form: ``<encrypted by flowvault>age:<fingerprint>:<base64 of the age file>``. age
encrypts anew each time, so an unchanged value keeps its previous stored form, found by its
fingerprint: an HMAC-SHA256 of the value under a key that is never committed
(``FLOWVAULT_FINGERPRINT_KEY``, else ``.git/flowvault-fingerprint-key``, made on first use).
Someone with only the repository sees that a secret changed, never what it is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import pyrage

from .canonical import ENCRYPTED_PREFIX
from .errors import ConfigError

_MARKER = re.compile(re.escape(ENCRYPTED_PREFIX).encode() + rb"age:([0-9a-f]{24}):([A-Za-z0-9+/=]+)")


def _fingerprint_key(path: Path) -> bytes:
    env = os.environ.get("FLOWVAULT_FINGERPRINT_KEY", "").strip()
    if env:
        return hashlib.sha256(env.encode()).digest()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key


class Sealer:
    """Encrypts values to one recipient, reusing the stored form of values already archived."""

    def __init__(self, recipient: str, root: Path, key_file: Path) -> None:
        try:
            self.recipient = pyrage.x25519.Recipient.from_str(recipient.strip())
        except Exception:  # pyrage's RecipientError: a malformed key
            raise ConfigError("secrets_recipient is not a valid age recipient (age1…)") from None
        self.key = _fingerprint_key(key_file)
        self.known: dict[str, str] = {}
        flows = root / "flows"
        if flows.is_dir():
            for path in flows.rglob("*.json"):
                for m in _MARKER.finditer(path.read_bytes()):
                    self.known[m.group(1).decode()] = m.group(0).decode()

    def seal(self, value: str) -> str:
        fp = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:24]
        if fp not in self.known:
            blob = base64.b64encode(pyrage.encrypt(value.encode(), [self.recipient])).decode()
            self.known[fp] = f"{ENCRYPTED_PREFIX}age:{fp}:{blob}"
        return self.known[fp]


class Opener:
    """Decrypts stored values with an age identity (from a file or the environment)."""

    def __init__(self, identity: str, where: str) -> None:
        self.where = where
        self.identities = [_identity(token, where) for token in identity_tokens(identity, where)]
        if not self.identities:
            raise ConfigError(f"{where}: holds no age identity (AGE-SECRET-KEY-1…)")

    def open(self, stored: str) -> str | None:
        """The plain value, or None when this identity cannot decrypt it."""
        m = _MARKER.fullmatch(stored.encode())
        if not m:
            return None
        try:
            return pyrage.decrypt(base64.b64decode(m.group(2)), self.identities).decode()
        except (pyrage.DecryptError, binascii.Error, UnicodeDecodeError):
            return None


def identity_tokens(text: str, where: str) -> list[str]:
    """The secret keys in an identity file as users have them: ``age-keygen``'s output (comment
    lines, then ``AGE-SECRET-KEY-1…``), or a key and its public key on one line (``AGE-SECRET-KEY-1…
    age1…``, as docs/secrets.md's pyrage one-liner printed); public keys are skipped, anything else refused."""
    keys = []
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip().startswith("#"):
            continue
        for token in line.split():
            if token.upper().startswith("AGE-SECRET-KEY-"):
                keys.append(token)
            elif not token.startswith("age1"):
                raise ConfigError(f"{where}: not an age identity (AGE-SECRET-KEY-1…)")
    return keys


def _identity(token: str, where: str) -> pyrage.x25519.Identity:
    try:
        return pyrage.x25519.Identity.from_str(token)
    except Exception:  # pyrage's IdentityError: a malformed key
        raise ConfigError(f"{where}: not an age identity (AGE-SECRET-KEY-1…)") from None


def load_opener(path: Path | None) -> Opener | None:
    """The identity from ``--identity FILE``, else ``FLOWVAULT_AGE_IDENTITY`` (the key itself) or
    ``FLOWVAULT_AGE_IDENTITY_FILE``; None when none is given."""
    env_key = os.environ.get("FLOWVAULT_AGE_IDENTITY", "")
    if path is None and not env_key:
        file_env = os.environ.get("FLOWVAULT_AGE_IDENTITY_FILE")
        path = Path(file_env) if file_env else None
    if path is not None:
        try:
            return Opener(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read the age identity ({e.__class__.__name__})") from None
    if env_key:
        return Opener(env_key, "FLOWVAULT_AGE_IDENTITY")
    return None
