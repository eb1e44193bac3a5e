"""A real ``medviz serve`` on a free 127.0.0.1 port, as its own process (so a test can kill -9 it).

Shared by tests/server and bench/serve.py."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_store(src: str, dst: str) -> str:
    """Copy a database file and its files folder (``<stem>_files``) to ``dst``."""
    shutil.copy(src, dst)
    s_files = os.path.splitext(src)[0] + "_files"
    if os.path.isdir(s_files):
        shutil.copytree(s_files, os.path.splitext(dst)[0] + "_files")
    return dst


def cli(*args, db: str | None = None, env_extra: dict | None = None, timeout: float = 300,
        check: bool = True) -> subprocess.CompletedProcess:
    """``python -m medviz.cli ...`` as a user would run it (a separate process)."""
    cmd = [sys.executable, "-m", "medviz.cli", *args] + (["--db", db] if db else [])
    env = {k: v for k, v in os.environ.items() if k not in ("MEDVIZ_SERVER", "MEDVIZ_TOKEN", "MEDVIZ_DB")}
    env.update(PYTHONPATH=ROOT, **(env_extra or {}))
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


class Server:
    def __init__(self, db: str, *, host: str = "127.0.0.1", env_extra: dict | None = None,
                 extra_args: tuple = (), cwd: str | None = None):
        self.db, self.host, self.env_extra, self.extra_args = db, host, dict(env_extra or {}), tuple(extra_args)
        self.cwd = cwd or os.path.dirname(os.path.abspath(db))
        self.port = None
        self.proc = None
        self.log_path = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return self.url + "/api/v1"

    def start(self, timeout: float = 90.0) -> "Server":
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1", **self.env_extra)
        env.pop("MEDVIZ_DB", None)
        self.log_path = f"{self.db}.serve-{self.port}.log"
        log = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "medviz.cli", "serve", "--db", self.db, "--host", self.host,
               "--port", str(self.port), *self.extra_args]
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.api + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"medviz serve did not start:\n{self.log()[-4000:]}")
            time.sleep(0.2)

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)
        except ProcessLookupError:
            return None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
