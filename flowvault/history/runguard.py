"""One run at a time (the lock, the in-progress marker, rollback, files put back from HEAD) and
the repository's soundness (fsck, HEAD's trees)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator

from git.exc import GitCommandError

from ..errors import ArchiveError
from ..signals import held
from .repository import git_errors, MARKER, LOCK, _git_msg, _Repository


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
            try:
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
            finally:  # unlocked by name, not by the close: a git another thread is starting this instant
                fcntl.flock(fh, fcntl.LOCK_UN)  # holds a copy of this descriptor until its exec

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
