"""Git for the archive; the only module that imports git (gitpython).

Commits, recovery of an interrupted run, push, log and reading files at any revision
without checking anything out. git exceptions never leave this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import git
from git.exc import GitCommandError, GitError, InvalidGitRepositoryError, NoSuchPathError

from .errors import ArchiveError, PushError, UsageError
from .signals import StoppedAfterCommit, held

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


class _RunGuard(_Repository):
    """One run at a time, and recovery of an interrupted one."""

    @contextlib.contextmanager
    def run(self, say: Callable[[str], None] = lambda _: None) -> Iterator[None]:
        """Hold the archive's lock; if a previous run died mid-way, put the work tree back to
        HEAD first (clearing the index lock git left when it was killed with it). A run that
        fails or is interrupted is rolled back on the spot; one that is killed leaves the
        marker, so the next run (or verify) knows to ignore its leftovers. The marker goes only
        once a rollback succeeded: a run that cannot roll back (a full disk) says so and leaves it."""
        try:
            fh = open(self.git_dir / LOCK, "w")  # noqa: SIM115 - held for the whole run
        except OSError as e:
            raise ArchiveError(f"{self.root}: cannot take the archive's lock ({e.strerror})") from None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ArchiveError(f"{self.root}: another flowvault run is using this archive") from None
            marker = self.git_dir / MARKER
            if marker.exists():
                # our own run was killed (we hold the lock, so no flowvault is running here): a git it
                # started may still be finishing (waited for), or have died holding the index lock
                self._wait_for_orphaned_git(say)
                (self.git_dir / "index.lock").unlink(missing_ok=True)
                self.rollback()
            marker.write_text(str(os.getpid()))
            clean = True
            try:
                yield
            except BaseException as exc:  # Ctrl-C, SIGTERM or any failure: back to the last commit, now
                clean = False
                try:
                    self.rollback()
                except ArchiveError:
                    if isinstance(exc, ArchiveError):  # the archive's own trouble says more than the rollback's
                        raise exc from None
                    raise
                clean = True
                raise
            finally:
                if clean:
                    marker.unlink(missing_ok=True)

    def interrupted(self) -> bool:
        """A run started and has not finished: killed, or still running (see ``running``)."""
        return (self.git_dir / MARKER).exists()

    def running(self) -> bool:
        """Another flowvault process holds this archive's lock right now."""
        try:
            with open(self.git_dir / LOCK, "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError:
            return False
        return False

    def rollback(self) -> None:
        """Discard uncommitted changes to the archive's own files."""
        paths = ("flows", "manifest.json")
        with git_errors(self.root, "undoing an interrupted run"):
            if self.head() is not None:
                self.repo.git.reset("--hard", "-q", "HEAD")
            else:
                for p in paths:
                    self.repo.git.rm("-r", "-q", "--cached", "--ignore-unmatch", "--", p)
            self.repo.git.clean("-fdq", "--", *paths)

    def restore_altered(self, paths: tuple[str, ...] = ("flows", "manifest.json")) -> list[str]:
        """Put back, from the last commit, every file of flowvault's that was deleted or edited in
        the work tree since (by hand, another tool): a run keeps unchanged flows as archived, and
        must not commit a removal or an edit the API never showed. Returns the paths put back."""
        if self.head() is None:
            return []
        with git_errors(self.root, "checking the work tree against the last commit"):
            out = self.repo.git.diff("--name-only", "-z", "--no-renames", "HEAD", "--", *paths)
            altered = [p for p in out.split("\0") if p]
            if altered:
                self.repo.git.checkout("HEAD", "--", *altered)
        return altered


class _Soundness(_Repository):
    """Whether the repository reads back: every object (fsck), HEAD's trees."""

    def damaged(self) -> list[str]:
        """Objects git cannot read back (``git fsck``), one line each; empty when sound."""
        if self.head() is None:
            return []
        self._wait_for_gc()
        try:
            self.repo.git.fsck("--no-progress", "--no-dangling", "--no-reflogs")
        except GitCommandError as e:
            raw = [ln.strip().removeprefix("stderr: '").removeprefix("stdout: '").rstrip("'")
                   for ln in f"{e.stderr or ''}\n{e.stdout or ''}".splitlines()]
            lines = [ln for ln in raw if ln and not ln.startswith(("Checking", "dangling"))]
            return [f"{self.root}: git object store damaged: {ln}" for ln in lines[:20]] or \
                [f"{self.root}: git fsck failed ({_git_msg(e)})"]
        return []

    def check_head(self, *, thorough: bool) -> list[str]:
        """Damage a run would build on: HEAD's commit and trees unreadable (checked every run,
        cheap), or with ``thorough`` any object (``git fsck``, as verify runs it)."""
        head = self.head()
        if head is None:
            return []
        try:
            self.repo.git.ls_tree("-r", "-d", "--full-tree", f"{head}^{{tree}}")
        except GitCommandError as e:
            return [f"{self.root}: git object store damaged: HEAD ({head[:10]}) cannot be read ({_git_msg(e)})"]
        return self.damaged() if thorough else []


class _Commits(_Repository):
    """Commits of flowvault's own paths, and who makes them."""

    def dirty_paths(self) -> list[str]:
        with git_errors(self.root, "git status"):
            out = self.repo.git.status("--porcelain", "--untracked-files=all", "-z")
        return [entry[3:] for entry in out.split("\0") if entry]

    def commit_all(self, message: str) -> str | None:
        """Commit every change to flowvault's own paths (and nothing else the folder holds);
        None when nothing changed. A stop signal meanwhile waits for the commit (StoppedAfterCommit)."""
        with held() as stops:
            sha = self._commit_all(message)
        if stops:
            raise StoppedAfterCommit(sha, stops[0])
        return sha

    def _commit_all(self, message: str) -> str | None:
        with git_errors(self.root, "git commit"):
            paths = [p for p in OWN_PATHS if (self.root / p).exists() or self.repo.git.ls_files("--", p)]
            if not paths:
                return None
            self.repo.git.add("-A", "--", *paths)
            if not self.repo.git.diff("--cached", "--name-only", *(["--root"] if self.head() is None else []),
                                      "--", *paths) and self.head() is not None:
                return None
            if self.head() is None and not self.repo.git.ls_files("--", *paths):
                return None
            self._commit(message, "--", *paths)
        return self.head()

    def foreign_files(self) -> list[str]:
        """Files in the archive's folder that are not flowvault's (never committed nor deleted)."""
        with git_errors(self.root, "git status"):
            out = self.repo.git.ls_files("--others", "--exclude-standard", "-z")
        return sorted(p for p in out.split("\0") if p and p.split("/")[0] not in OWN_PATHS)

    def commit_paths(self, paths: list[str], message: str) -> str | None:
        """Commit only ``paths`` (e.g. an import map), whatever else the work tree holds; a stop
        signal meanwhile waits for the commit (StoppedAfterCommit)."""
        with held() as stops:
            with git_errors(self.root, "git commit"):
                self.repo.git.add("--", *paths)
                if self.head() is not None and not self.repo.git.diff("--cached", "--name-only", "--", *paths):
                    sha = None
                else:
                    self._commit(message, "--", *paths)
                    sha = self.head()
        if stops:
            raise StoppedAfterCommit(sha, stops[0])
        return sha

    def _commit(self, message: str, *args: str) -> None:
        # the message goes through a file: a run that adds 20,000 flows names them all
        path = self.git_dir / "FLOWVAULT_COMMIT_MSG"
        path.write_text(message, encoding="utf-8")
        try:
            # git's automatic gc runs in the foreground, under the run's lock: detached, it repacks
            # while verify or the next run reads the repository (which then looks damaged)
            with self.repo.git.custom_environment(**self._identity(), **FOREGROUND_GC):
                self.repo.git.commit("-q", "--no-verify", "--no-gpg-sign", "-F", str(path), *args)
        finally:
            path.unlink(missing_ok=True)

    def _identity(self) -> dict[str, str]:
        reader = self.repo.config_reader()
        if reader.has_option("user", "name") and reader.has_option("user", "email"):
            return {}
        return {k: v for k, v in _FALLBACK_ID.items() if k not in os.environ}

    def identity(self) -> str:
        """Who commits: the repository's or global git identity, else flowvault's fallback."""
        with git_errors(self.root, "reading git's config"):
            reader = self.repo.config_reader()
            if reader.has_option("user", "name") and reader.has_option("user", "email"):
                return f"{reader.get_value('user', 'name')} <{reader.get_value('user', 'email')}>"
        return (f"{_FALLBACK_ID['GIT_AUTHOR_NAME']} <{_FALLBACK_ID['GIT_AUTHOR_EMAIL']}> "
                "(no git identity configured: flowvault's fallback)")


class _Remotes(_Commits):
    """Off-site copies: pushes that prove they landed, and whether a remote would take one."""

    def remote_status(self, remote: str = "origin") -> tuple[bool, str] | None:
        """None without the remote, else whether ``git ls-remote`` reaches it and a dry-run push
        of HEAD's branch would be taken (writable, and not behind on flowvault's side)."""
        if remote not in [r.name for r in self.repo.remotes]:
            return None
        try:
            self.repo.git.ls_remote("--heads", remote, kill_after_timeout=20)
        except GitCommandError as e:
            return False, f"'{remote}' unreachable ({_git_msg(e)})"
        if self.head() is None:
            return True, f"'{remote}' reachable (nothing committed yet to try a push with)"
        try:
            branch = self.repo.active_branch.name
            self.repo.git.push("--dry-run", remote, f"HEAD:refs/heads/{branch}", kill_after_timeout=60)
        except TypeError:
            return False, f"'{remote}' reachable, but HEAD is not on a branch: nothing can be pushed"
        except GitCommandError as e:
            if _REJECTED.search(str(e.stderr or e)):
                return True, (f"'{remote}' reachable and writable; it has commits this archive does not "
                              "(the next push fetches them)")
            return False, f"'{remote}' reachable, but a push would fail ({_git_msg(e)})"
        return True, f"'{remote}' reachable and writable"

    def push(self, remote: str = "origin", attempts: int = 3, delay: float = 2.0,
             say: Callable[[str], None] = lambda _: None) -> str:
        """Push HEAD's branch to ``remote`` and prove it landed: the remote's branch must then name
        HEAD's commit. A failed attempt is retried (``delay``, doubling); a rejected one (the remote
        moved) fetches, and rebases only when the remote's new commits touch none of flowvault's
        paths — otherwise it refuses, naming them. Returns the commit the remote holds."""
        if remote not in [r.name for r in self.repo.remotes]:
            raise PushError(f"{self.root}: no git remote '{remote}' to push to "
                            f"(add one with: git -C {self.root} remote add {remote} URL)")
        try:
            branch = self.repo.active_branch.name
        except TypeError:
            raise PushError(f"{self.root}: push to '{remote}' failed (HEAD is not on a branch); "
                            "the local commit is kept") from None
        why, attempt, rebases = "", 0, 0
        while attempt < attempts:
            attempt += 1
            try:
                self.repo.git.push(remote, f"HEAD:refs/heads/{branch}", kill_after_timeout=120)
            except GitCommandError as e:
                why = _git_msg(e)
                if _REJECTED.search(str(e.stderr or e)) and rebases < 3:  # a remote that keeps moving: 3 times
                    self._take_remote_commits(remote, branch)
                    rebases, attempt = rebases + 1, attempt - 1  # taking the remote's commits is not a failed try
                    why = f"the remote had moved; rebased onto it ({why})"
                    continue  # at once: the next attempt pushes the rebased commit
                if attempt < attempts:
                    say(f"push to '{remote}' failed ({why}); trying again in {delay:g} s "
                        f"(attempt {attempt + 1} of {attempts})")
                    time.sleep(delay)
                    delay *= 2
                continue
            head = self.head()
            held = self._remote_head(remote, branch)
            if held == head:
                return str(head)
            why = (f"the remote's '{branch}' names {held[:10] if held else 'nothing'} after the push, "
                   f"not {str(head)[:10]}")
        raise PushError(f"{self.root}: push to '{remote}' failed after {attempts} attempt(s) ({why}); "
                        "the local commit is kept")

    def _remote_head(self, remote: str, branch: str) -> str | None:
        try:
            out = self.repo.git.ls_remote(remote, f"refs/heads/{branch}", kill_after_timeout=60)
        except GitCommandError:
            return None
        return out.split()[0] if out.strip() else None

    def _take_remote_commits(self, remote: str, branch: str) -> None:
        """The remote moved: fetch it; rebase onto it when its new commits touch none of flowvault's
        paths (a README, a CI file someone added); else refuse, naming the commits and paths."""
        with git_errors(self.root, f"git fetch {remote}"):
            self.repo.git.fetch(remote, f"refs/heads/{branch}", kill_after_timeout=120)
            theirs = self.repo.git.rev_parse("FETCH_HEAD")
            touched = [p for p in self.repo.git.log("--name-only", "--format=", f"HEAD..{theirs}").splitlines()
                       if p.strip()]
        ours = sorted({p for p in touched if p.split("/")[0] in OWN_PATHS})
        if ours:
            commits = self.repo.git.log("--format=%h %s", f"HEAD..{theirs}").splitlines()
            raise PushError(f"{self.root}: push to '{remote}' refused: the remote's '{branch}' has commits "
                            f"this archive does not ({'; '.join(commits[:3])}) that change flowvault's files "
                            f"({', '.join(ours[:5])}); nothing was rebased, the local commit is kept — "
                            "reconcile by hand (git pull --rebase) or push elsewhere")
        with git_errors(self.root, "git rebase"), self.repo.git.custom_environment(**self._identity()):
            self.repo.git.rebase("-q", theirs)


class _Revisions(_Repository):
    """Reading history: revisions, files at a commit, the log."""

    def resolve(self, rev: str | None) -> str:
        """The commit SHA a revision names (SHA, branch, tag, HEAD~N…) or the newest commit at or
        before a date ('2026-11-20', '3 days ago'); HEAD if None. Anything else is a UsageError:
        an unknown revision is never read as HEAD."""
        if rev is None:
            sha = self.head()
            if sha is None:
                raise ArchiveError(f"{self.root}: the archive has no commit yet")
            return sha
        text = rev.strip()
        with git_errors(self.root, f"resolving '{rev}'"):
            if self.head() is None:
                raise UsageError(f"{self.root}: unknown revision '{rev}' (the archive has no commit yet)")
            try:
                return str(self.repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{text}^{{commit}}"))
            except GitCommandError:
                pass
            try:  # the name resolves, its commit does not read: damage, not a bad command line
                named = str(self.repo.git.rev_parse("--verify", "--quiet", "--end-of-options", text))
            except GitCommandError:
                named = ""
            if named:
                raise ArchiveError(f"{self.root}: archive damaged: '{rev}' names commit {named[:10]}, which git "
                                   "cannot read (restore the repository from a clone or its remote)")
            if not (_DATE.match(text) or _AGO.match(text)):
                raise UsageError(f"{self.root}: unknown revision '{rev}' (give a commit, branch, tag, "
                                 "HEAD~N, a date such as 2026-11-20, or '3 days ago')")
            sha = self.repo.git.rev_list("-1", f"--before={text}", "HEAD")
        if not sha:
            raise UsageError(f"{self.root}: no commit at or before '{rev}' (the first commit is newer)")
        return str(sha)

    def read(self, sha: str, path: str) -> bytes | None:
        """A file's bytes at a commit (None if it has no such file). The commit's file list is
        read once (one ``git ls-tree``, the last two commits' kept), so reading every file of a
        commit — or of two, in turn — stays linear."""
        with git_errors(self.root, f"reading {path} at {sha[:10]}"):
            if "/" not in path:  # a top-level file (the manifest): a direct lookup, no file list
                try:
                    return bytes((self.repo.commit(sha).tree / path).data_stream.read())
                except KeyError:
                    return None
            index = self._trees.get(sha)
            if index is None:
                out = self.repo.git.ls_tree("-r", "-z", "--full-tree", sha)
                index = {}
                for entry in out.split("\0"):
                    if entry:
                        meta, _, name = entry.partition("\t")
                        parts = meta.split()
                        if len(parts) == 3 and parts[1] == "blob":
                            index[name] = parts[2]
                # two commits at a time (a diff reads both sides in turn): memory stays two file lists
                self._trees = {**{k: v for k, v in list(self._trees.items())[-1:]}, sha: index}
            blob = index.get(path)
            if blob is None:
                return None
            return bytes(self.repo.odb.stream(bytes.fromhex(blob)).read())

    def files_at(self, sha: str, prefix: str) -> list[str]:
        with git_errors(self.root, "git ls-tree"):
            out = self.repo.git.ls_tree("-r", "--name-only", "-z", sha, "--", prefix)
        return [p for p in out.split("\0") if p]

    def log(self, paths: list[str] | None = None, max_count: int | None = None, rev: str = "HEAD") -> list[Commit]:
        """Commits newest first, from ``rev`` (that touched ``paths``); a damaged history is an ArchiveError."""
        if self.head() is None:
            return []
        args = ["--format=%H%x00%cI%x00%s%x00%B%x1e", *([f"--max-count={max_count}"] if max_count else []), rev]
        with git_errors(self.root, "git log"):
            out = self.repo.git.log(*args, "--", *(paths or []), strip_newline_in_stdout=False)
        commits = []
        for record in out.split("\x1e"):
            parts = record.strip("\n").split("\0")
            if len(parts) == 4:
                commits.append(Commit(parts[0], parts[1], parts[2], parts[3]))
        return commits

    def show_stat(self, sha: str) -> str:
        with git_errors(self.root, "git show"):
            return str(self.repo.git.show("--stat", "--format=commit %H%nDate:   %ad%n%n    %s%n", sha))


class History(_RunGuard, _Soundness, _Remotes, _Revisions):
    """The git repository holding an archive: one object for callers, each job a class above
    (the repository, one run at a time, soundness, commits, remotes, reading history)."""


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
