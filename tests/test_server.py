"""The app starts under `streamlit run` and answers its health check."""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from lib.config import PROJECT_ROOT

STARTUP_SECONDS = 60


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode("utf-8", "replace")


@pytest.mark.slow
def test_streamlit_run_serves_the_app(app_env: dict[str, str], unused_port: int) -> None:
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "Home.py",
        "--server.headless",
        "true",
        "--server.port",
        str(unused_port),
        "--server.fileWatcherType",
        "none",
    ]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env={**os.environ, **app_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = get(f"http://127.0.0.1:{unused_port}/_stcore/health")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert health == (200, "ok"), f"no health answer; exit code {process.poll()}"
        status, page = get(f"http://127.0.0.1:{unused_port}/")
        assert status == 200
        assert '<div id="root">' in page
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "Traceback" not in output
