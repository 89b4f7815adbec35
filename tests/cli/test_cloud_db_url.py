"""`hedge cloud serve` and `hedge cloud worker` with a database they cannot use: one `error:`
line saying what is wrong and what to do, exit status 1, no traceback (real processes)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hedge.services import free_port, hedge_command

#: (--db-url, what the error line must say)
UNUSABLE = [
    ("postgresql+psycopg://hedge:s3cret@127.0.0.1:port/test", "cannot be parsed"),
    ("postgresql+nosuch://hedge@127.0.0.1/test", "unknown database driver 'nosuch'"),
    ("mysql://hedge@127.0.0.1/test", "unsupported database 'mysql'"),
    ("postgresql+psycopg://hedge:s3cret@127.0.0.1:{closed}/test", "Connection refused"),
    ("sqlite:///{tmp}/no/such/dir/cloud.db", "unable to open database file"),
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """`hedge ARGS` in a child process, its output 80 columns wide (a long message must not
    wrap)."""
    return subprocess.run(hedge_command(*args), capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "COLUMNS": "80"})


def assert_one_error_line(proc: subprocess.CompletedProcess[str], says: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "╭" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert says in lines[0], lines[0]
    assert "s3cret" not in proc.stderr  # the password never shows


@pytest.mark.parametrize(("url", "says"), UNUSABLE)
def test_serve_refuses_an_unusable_database_in_one_line(tmp_path: Path, url: str,
                                                         says: str) -> None:
    url = url.format(closed=free_port(), tmp=tmp_path)
    proc = run("cloud", "serve", "--data-dir", str(tmp_path / "cloud"), "--workers", "0",
               "--port", str(free_port()), "--db-url", url)
    assert_one_error_line(proc, says)


def test_the_error_line_says_what_to_do(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://hedge@127.0.0.1:{free_port()}/test"
    proc = run("cloud", "serve", "--data-dir", str(tmp_path), "--workers", "0", "--port",
               str(free_port()), "--db-url", url)
    assert_one_error_line(proc, "accepts connections")
    assert "leave out --db-url" in proc.stderr


@pytest.mark.parametrize(("url", "says"), [UNUSABLE[1], UNUSABLE[3]])
def test_worker_refuses_an_unusable_database_in_one_line(tmp_path: Path, url: str,
                                                          says: str) -> None:
    url = url.format(closed=free_port(), tmp=tmp_path)
    proc = run("cloud", "worker", "--data-dir", str(tmp_path), "--db-url", url)
    assert_one_error_line(proc, says)
