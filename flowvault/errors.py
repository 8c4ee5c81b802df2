"""The one FlowvaultError hierarchy; each class knows its exit code (README's table).

``cli.py`` is the only place that catches these and turns them into a line and an exit code.
"""

from __future__ import annotations

from typing import Any

EXIT_DIFFERENT = 1  # `diff --exit-code` found a difference, and nothing else
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_CONFIG = 4
EXIT_AUTH = 5
EXIT_API = 6
EXIT_ARCHIVE = 7
EXIT_PUSH = 8
EXIT_DOCTOR = 9
EXIT_MASS_REMOVAL = 10
EXIT_INTERNAL = 70  # a bug in flowvault (EX_SOFTWARE): never for anything a user or the environment causes
EXIT_INTERRUPTED = 130


class FlowvaultError(Exception):
    """Base of every error flowvault reports; ``str()`` is the one-line message. Raise a subclass."""

    exit_code = EXIT_INTERNAL

    def __reduce__(self) -> Any:  # pickled whole, whatever the subclass's __init__ takes (export --workers)
        return (_restored, (type(self), self.args, self.__dict__))


def _restored(cls: type[FlowvaultError], args: tuple[Any, ...], state: dict[str, Any]) -> FlowvaultError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class UsageError(FlowvaultError):
    """The command line asks for something that does not exist (a flow, a revision, a busy port)."""

    exit_code = EXIT_USAGE


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
    """The API answered something that is not a shape flowvault understands (refused, not passed on)."""


class ArchiveError(FlowvaultError):
    """The archive on disk or in git is missing, corrupt or not what was asked for."""

    exit_code = EXIT_ARCHIVE


class PartialFailure(FlowvaultError):
    """The run finished, but some flows failed; the rest was done and kept. Carries the result."""

    exit_code = EXIT_PARTIAL

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class SecretGateError(FlowvaultError):
    """A file about to be archived holds a secret value or a credential (one flow fails, exit 3)."""

    exit_code = EXIT_PARTIAL


class MassRemovalError(FlowvaultError):
    """An export would remove more than half of the archived flows: HEAD is kept (a guard)."""

    exit_code = EXIT_MASS_REMOVAL


class PushError(FlowvaultError):
    """The local commit was made, but pushing it to the remote failed."""

    exit_code = EXIT_PUSH


class DoctorFailed(FlowvaultError):
    """``doctor`` found at least one failing check (each was printed)."""

    exit_code = EXIT_DOCTOR


class Different(FlowvaultError):
    """``diff --exit-code`` found a difference (as ``git diff --exit-code``)."""

    exit_code = EXIT_DIFFERENT


def unwrap(exc: BaseException) -> BaseException:
    """The first FlowvaultError inside an exception group (task groups wrap them), else ``exc``."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = unwrap(inner)
            if isinstance(found, FlowvaultError):
                return found
        return unwrap(exc.exceptions[0])
    return exc


class WorkerLost(FlowvaultError):
    """``export --workers``: a worker process ended before its profiles did (killed: OOM, kill -9);
    their archives keep their last commit. Exit code 128 + the signal, as for a stop."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def of(cls, profile: str, pid: int, exitcode: int) -> WorkerLost:
        """From how the worker ended (multiprocessing's exitcode: -N when signal N killed it)."""
        import signal

        how = f"killed by {signal.Signals(-exitcode).name}" if exitcode < 0 else f"exit {exitcode}"
        return cls(f"profile '{profile}': its worker process (pid {pid}) ended ({how}) before the profile finished; "
                   "its archive keeps its last commit",
                   128 - exitcode if exitcode < 0 else exitcode if exitcode > 128 else EXIT_INTERNAL)


class ProfilesFailed(FlowvaultError):
    """``export --all-profiles``: some profiles did not finish cleanly; exits with the worst code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
