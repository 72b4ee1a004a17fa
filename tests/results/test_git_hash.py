"""run.json's git hash: a run made on a tree whose tracked files (code, shipped weights) differ from
the commit says so, instead of claiming a commit it does not match."""

import shutil
import subprocess
from pathlib import Path

import pytest

from pwbench.results.run_dir import git_hash

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "weights.txt").write_text("run 6\n")
    _git(tmp_path, "add", "weights.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_a_clean_tree_gives_the_commit_and_untracked_files_keep_it_clean(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    assert git_hash(repo) == head
    (repo / "runs").mkdir()
    (repo / "runs" / "log.txt").write_text("untracked output")
    assert git_hash(repo) == head


def test_a_changed_tracked_file_marks_the_commit_dirty(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "weights.txt").write_text("run 8\n")
    assert git_hash(repo) == f"{head}-dirty"
    _git(repo, "add", "weights.txt")  # staged but not committed: still not the commit
    assert git_hash(repo) == f"{head}-dirty"


def test_outside_a_repository_the_hash_is_unknown(tmp_path: Path) -> None:
    assert git_hash(tmp_path) == "unknown"
