"""Commits of flowvault's own paths (a stop signal waits for the commit) and pushes to remotes,
proven (a moved remote taken or refused)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from git.exc import GitCommandError

from ..errors import PushError
from ..signals import StoppedAfterCommit, held
from .repository import git_errors, _REJECTED, Commit, OWN_PATHS, FOREGROUND_GC, _FALLBACK_ID, _git_msg, _Repository


#: where ``git fast-import`` writes a run's commit before HEAD takes it (never left behind)
WORK_REF = "refs/flowvault/commit"


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
            # every own path, present or not (a pathspec that matches nothing is no error to status)
            out = self.repo.git.status("--porcelain", "-z", "--no-renames", "--untracked-files=all", "--", *OWN_PATHS)
            changed = sorted({entry[3:] for entry in out.split("\0") if entry})
            if not changed:
                return None
            self._fast_commit(message, changed)
        return self.head()

    def _fast_commit(self, message: str, changed: list[str]) -> None:
        """One commit of ``changed`` (their bytes on disk; a missing file is a removal) on top of
        HEAD through ``git fast-import``: a full run's thousands of new files land as one pack,
        not one loose object each (their creation was most of a full run's CPU). The commit is
        made on WORK_REF, which the same stream deletes again (its ID comes back as a mark), so
        no ref is left behind; the index is then brought to the commit for those paths (their
        objects exist: nothing is written twice), HEAD moves last (a kill before that leaves the
        previous commit), and git's automatic gc runs in the foreground, as a commit's would.
        Five git processes a commit: var, fast-import, update-index, update-ref, gc."""
        old = self.head()
        author, committer = self._idents()
        text = "\n".join(line.rstrip() for line in message.strip("\n").splitlines()) + "\n"
        body = text.encode("utf-8")
        stream, marks = self.git_dir / "FLOWVAULT_STDIN", self.git_dir / "FLOWVAULT_MARKS"
        try:
            with stream.open("wb") as out:  # written as read: a full run's files are never all in memory
                out.write(f"commit {WORK_REF}\nmark :1\nauthor {author}\ncommitter {committer}\n".encode())
                out.write(b"data %d\n%s\n" % (len(body), body))
                if old is not None:
                    out.write(f"from {old}\n".encode())
                for rel in changed:
                    path = self.root / rel
                    if path.is_file():
                        data = path.read_bytes()
                        out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (rel.encode(), len(data), data))
                    else:
                        out.write(f"D {rel}\n".encode())
                out.write(f"\nreset {WORK_REF}\nfrom {'0' * 40}\n\ndone\n".encode())  # the null ID deletes it
            with stream.open("rb") as fh:
                self.repo.git.fast_import("--quiet", "--done", "--force", f"--export-marks={marks}", istream=fh)
            new = marks.read_text().split()[1]
        finally:
            stream.unlink(missing_ok=True)
            marks.unlink(missing_ok=True)
        self._fed("update_index", "".join(f"{rel}\0" for rel in changed).encode(), "-z", "--add", "--remove",
                  "--stdin")
        subject = text.splitlines()[0] if text.strip() else "flowvault"
        self.repo.git.update_ref("-m", f"commit: {subject}", "HEAD", new, *([old] if old else []))
        with self.repo.git.custom_environment(**FOREGROUND_GC):
            self.repo.git.gc("--auto", "--quiet")

    def _idents(self) -> tuple[str, str]:
        """(author, committer) as git would write them now, from one ``git var -l`` (its
        identities follow the last config line); ``git var`` for each when one is missing."""
        with self.repo.git.custom_environment(**self._identity()):
            listed = {}
            for line in self.repo.git.var("-l").splitlines():
                key, _, value = line.partition("=")
                if key in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
                    listed[key] = value
            author = listed.get("GIT_AUTHOR_IDENT") or self.repo.git.var("GIT_AUTHOR_IDENT")
            committer = listed.get("GIT_COMMITTER_IDENT") or self.repo.git.var("GIT_COMMITTER_IDENT")
        return author, committer

    def _fed(self, command: str, data: bytes, *args: str) -> None:
        """``git COMMAND ARGS`` reading ``data`` on stdin (through a file in .git: gitpython's
        ``istream`` is a file)."""
        path = self.git_dir / "FLOWVAULT_STDIN"
        path.write_bytes(data)
        try:
            with path.open("rb") as fh:
                getattr(self.repo.git, command)(*args, istream=fh)
        finally:
            path.unlink(missing_ok=True)

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
