"""Reading history: strict revisions (SHAs, dates, HEAD~n), files at a commit, the log."""

from __future__ import annotations


from git.exc import GitCommandError

from ..errors import ArchiveError, UsageError
from .repository import git_errors, _DATE, _AGO, Commit, _Repository


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
        trailers = "%(trailers:unfold,separator=%x1f)"  # git parses them: ``Key: value`` lines at the end
        args = [f"--format=%H%x00%cI%x00%s%x00%B%x00{trailers}%x1e", *([f"--max-count={max_count}"] if max_count else []),
                rev]
        with git_errors(self.root, "git log"):
            out = self.repo.git.log(*args, "--", *(paths or []), strip_newline_in_stdout=False)
        commits = []
        for record in out.split("\x1e"):
            parts = record.strip("\n").split("\0")
            if len(parts) == 5:
                found: dict[str, list[str]] = {}
                for line in filter(None, parts[4].split("\x1f")):
                    key, _, value = line.partition(":")
                    found.setdefault(key.strip(), []).append(value.strip())
                commits.append(Commit(parts[0], parts[1], parts[2], parts[3], found))
        return commits

    def show_stat(self, sha: str) -> str:
        with git_errors(self.root, "git show"):
            return str(self.repo.git.show("--stat", "--format=commit %H%nDate:   %ad%n%n    %s%n", sha))
