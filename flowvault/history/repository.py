"""The archive's git repository: opening (or making) it, HEAD, .git state, waiting for a git
another process left working; git's exceptions mapped at one boundary (``git_errors``)."""

from __future__ import annotations

import contextlib
import os
import re
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import git
from git.exc import GitCommandError, GitError, InvalidGitRepositoryError, NoSuchPathError

from ..errors import ArchiveError


MARKER = "flowvault-run-in-progress"
OWN_PATHS = ("manifest.json", "flows", "imports")  # what flowvault writes; nothing else is committed
LOCK = "flowvault.lock"
#: everything flowvault keeps in .git (never committed, never cloned), named here and only here
STATE = {"lock": LOCK, "marker": MARKER, "fetch state": "flowvault-fetch-state.json",
         "fingerprint key": "flowvault-fingerprint-key", "import journal": "flowvault-import-{profile}.jsonl"}
#: git config given to `git commit` through the environment (git >= 2.31): auto gc never detaches
FOREGROUND_GC = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gc.autoDetach", "GIT_CONFIG_VALUE_0": "false"}
ORPHAN_WAIT = 300.0  # seconds a run waits for a git process a killed run left working
_FALLBACK_ID = {"GIT_AUTHOR_NAME": "flowvault", "GIT_AUTHOR_EMAIL": "flowvault@localhost",
                "GIT_COMMITTER_NAME": "flowvault", "GIT_COMMITTER_EMAIL": "flowvault@localhost"}


_SHA = re.compile(r"[0-9a-f]{40}")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{1,2}:\d{2}(:\d{2})?)?$")
_AGO = re.compile(r"^(yesterday|today|now|(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
                  r"(second|minute|hour|day|week|month|year)s?\s+ago)$", re.IGNORECASE)


@contextlib.contextmanager
def git_errors(root: Path, what: str) -> Iterator[None]:
    """The one boundary where git's exceptions become ArchiveError (as httpx's map_exceptions)."""
    try:
        yield
    except GitCommandError as e:
        message = _git_msg(e)
        damaged = "archive damaged: " if _DAMAGE.search(message) else ""
        raise ArchiveError(f"{root}: {damaged}{what} failed ({message})") from None
    except (GitError, ValueError) as e:  # unreadable objects, a broken repository
        raise ArchiveError(f"{root}: archive damaged: {what} failed ({e.__class__.__name__}: "
                           f"{_first_line(e)})") from None
    except OSError as e:  # the machine: a full disk, a read-only volume
        raise ArchiveError(f"{root}: {what} failed ({e.__class__.__name__}: {_first_line(e)})") from None


#: what git says when a push is refused because the remote has commits the local branch lacks
_REJECTED = re.compile(r"\[rejected\]|non-fast-forward|fetch first|updates were rejected", re.IGNORECASE)

#: what git says when an object it needs cannot be read: the repository is damaged
_DAMAGE = re.compile(r"unable to read|is corrupt|bad object|invalid object|loose object|corrupt|"
                     r"missing (blob|tree|commit)|does not point to a valid object", re.IGNORECASE)


@dataclass(frozen=True)
class Commit:
    sha: str
    date: str
    summary: str
    message: str
    trailers: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)  # git trailers, by key



class _Repository:
    """The repository itself: opening and closing it, HEAD, where flowvault keeps its
    private state in ``.git``, and waiting for a git that another process left working."""

    def __init__(self, repo: git.Repo) -> None:
        self.repo = repo
        self.root = Path(repo.working_tree_dir or ".")
        self._trees: dict[str, dict[str, str]] = {}
        _OPEN.add(self)

    def close(self) -> None:
        """Stop the git processes GitPython keeps for reading objects (``cat-file --batch``)."""
        self.repo.close()
        _OPEN.discard(self)

    @classmethod
    def open(cls, root: Path | str, *, create: bool = False) -> Self:
        path = Path(root)
        if path.exists() and not path.is_dir():
            raise ArchiveError(f"{path}: is a file, not an archive directory")
        try:
            with git_errors(path, "opening the repository"):
                try:
                    return cls(git.Repo(path))
                except (InvalidGitRepositoryError, NoSuchPathError):
                    if not create:
                        raise ArchiveError(f"{path}: not an archive (no git repository there)") from None
                if path.exists() and any(p.name != ".git" for p in path.iterdir()):
                    raise ArchiveError(f"{path}: exists, is not empty and is not a git repository; "
                                       "use an empty or new directory for the archive")
                path.mkdir(parents=True, exist_ok=True)
                try:
                    repo = git.Repo.init(path)
                    with repo.config_writer() as cw:
                        cw.set_value("core", "quotepath", "false")
                except (GitCommandError, OSError):
                    repo = _initialised_by_another(path)  # two runs started at once on a new archive
                return cls(repo)
        except PermissionError:
            raise ArchiveError(f"{path}: permission denied") from None

    @property
    def git_dir(self) -> Path:
        return Path(self.repo.git_dir)

    def state(self, what: str, **names: str) -> Path:
        """Where flowvault keeps one piece of its private state in ``.git`` (``STATE``)."""
        return self.git_dir / STATE[what].format(**names)

    def head(self) -> str | None:
        """HEAD's commit ID, None before the first commit (read from the ref: a damaged commit
        object is not mistaken for an empty history)."""
        try:  # git's ref files, read here (GitPython): no process per question
            sha = str(git.SymbolicReference.dereference_recursive(self.repo, "HEAD"))
            if _SHA.fullmatch(sha):
                return sha
        except Exception:  # noqa: BLE001 - no commit yet, or refs it cannot read: git decides
            pass
        try:
            return str(self.repo.git.rev_parse("--verify", "--quiet", "HEAD")) or None
        except GitCommandError:
            return None

    def _wait_for_orphaned_git(self, say: Callable[[str], None], limit: float = ORPHAN_WAIT) -> None:
        """A git that a killed run started may still be working here (the run was killed, its
        child was not): wait for it, bounded, rather than pull its index lock from under it."""
        deadline = time.monotonic() + limit
        told = False
        while (self.git_dir / "index.lock").exists() and _git_running_in(self.root):
            if not told:
                say(f"{self.root}: a git process left by an interrupted run is still working here; waiting for it "
                    f"(at most {limit:g} s)")
                told = True
            if time.monotonic() > deadline:
                raise ArchiveError(f"{self.root}: a git process left by an interrupted run is still running after "
                                   f"{limit:g} s; stop it, then run again")
            time.sleep(0.1)

    def _wait_for_gc(self, limit: float = ORPHAN_WAIT) -> None:
        """A ``git gc`` running here (git's own detached auto gc, from an older flowvault or a
        user) repacks under a reader's feet: fsck would report objects it is moving as damaged."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                pid = int((self.git_dir / "gc.pid").read_text().split()[0])
                os.kill(pid, 0)
            except (OSError, ValueError, IndexError):
                return  # no gc.pid, or its process is gone (a stale file)
            time.sleep(0.1)


_OPEN: weakref.WeakSet[_Repository] = weakref.WeakSet()


def close_all() -> None:
    """Close every History still open: the end of a command (``cli``) or of a test. A repository
    left to the garbage collector leaves its reader processes running until then."""
    for history in list(_OPEN):
        history.close()


def _git_running_in(root: Path) -> bool:
    """Whether a git process (other than this one) works in ``root`` right now (Linux /proc;
    elsewhere: False, as before)."""
    target = str(root.resolve())
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.readlink(entry / "cwd") != target:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:2]
        except OSError:
            continue
        if any(Path(a.decode(errors="replace")).name.startswith("git") for a in argv if a):
            return True
    return False


def _initialised_by_another(path: Path) -> git.Repo:
    """The repository a concurrent ``git init`` of the same folder is making (it wins, we use it;
    the archive's lock then decides which run goes on)."""
    for _ in range(100):
        try:
            return git.Repo(path)
        except (InvalidGitRepositoryError, NoSuchPathError, ValueError):
            time.sleep(0.05)  # its init takes a few milliseconds
    raise ArchiveError(f"{path}: could not create the archive's git repository")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""


def _git_msg(e: GitCommandError) -> str:
    text = (e.stderr or str(e)).strip().splitlines()
    return text[-1].strip() if text else "git error"
