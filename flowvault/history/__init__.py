"""Git for the archive; the only package that imports git (gitpython).

Commits, recovery of an interrupted run, push, log and reading files at any revision
without checking anything out. git exceptions never leave this package. ``History`` is the
one object callers use; each job is a class of its own module (repository, runguard,
commits, revisions).
"""

from __future__ import annotations

from .commits import _Remotes
from .repository import LOCK, MARKER, OWN_PATHS, STATE, Commit, close_all, git_errors
from .revisions import _Revisions
from .runguard import _RunGuard, _Soundness


class History(_RunGuard, _Soundness, _Remotes, _Revisions):
    """The git repository holding an archive: one object for callers, each job a class above
    (the repository, one run at a time, soundness, commits, remotes, reading history)."""


__all__ = ["LOCK", "MARKER", "OWN_PATHS", "STATE", "Commit", "History", "close_all", "git_errors"]
