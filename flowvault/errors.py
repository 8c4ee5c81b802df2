"""The one FlowvaultError hierarchy; each class knows its exit code (see README)."""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_PARTIAL = 3
EXIT_CONFIG = 4
EXIT_AUTH = 5
EXIT_API = 6
EXIT_ARCHIVE = 7
EXIT_PUSH = 8
EXIT_DOCTOR = 9
EXIT_INTERRUPTED = 130


class FlowvaultError(Exception):
    """Base of every error flowvault reports; ``str()`` is the one-line message."""

    exit_code = 1


class UsageError(FlowvaultError):
    """The command line asks for something that does not exist (a flow, a revision)."""

    exit_code = 2


class ConfigError(FlowvaultError):
    """The config file, a profile, a map file or a key variable is missing or invalid."""

    exit_code = EXIT_CONFIG


class ApiError(FlowvaultError):
    """The API could not be reached or answered with an error after retries."""

    exit_code = EXIT_API

    def __init__(self, message: str, *, status: int | None = None, method: str = "", path: str = "",
                 errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.method, self.path = status, method, path
        self.errors = errors or {}


class AuthError(ApiError):
    """The API key was refused (401) or lacks the permission (403)."""

    exit_code = EXIT_AUTH


class NotFoundError(ApiError):
    """The API answered 404 for the object."""


class ValidationError(ApiError):
    """The API answered 422; ``errors`` holds the server's field errors."""


class ProtocolError(ApiError):
    """The API answered something that is not the documented shape."""


class ArchiveError(FlowvaultError):
    """The archive on disk or in git is missing, corrupt or not what was asked for."""

    exit_code = EXIT_ARCHIVE


class PartialFailure(FlowvaultError):
    """The run finished, but some flows failed; the rest was done and kept."""

    exit_code = EXIT_PARTIAL


class PushError(FlowvaultError):
    """The local commit was made, but pushing it to the remote failed."""

    exit_code = EXIT_PUSH


def unwrap(exc: BaseException) -> BaseException:
    """The first FlowvaultError inside an exception group (task groups wrap them), else ``exc``."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = unwrap(inner)
            if isinstance(found, FlowvaultError):
                return found
        return unwrap(exc.exceptions[0])
    return exc
