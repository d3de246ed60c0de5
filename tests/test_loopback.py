"""`syncops sandbox serve`: the same clients over real HTTP on 127.0.0.1, state kept by the server."""
import socket
import subprocess
import sys
import time

from engine.workspace import Workspace

from .conftest import FAST_RETRIES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"sandbox did not listen on {port}")


def test_a_run_over_loopback_changes_the_servers_state(tmp_path):
    data = tmp_path / "data"
    Workspace(data).reset_sandbox(records=200)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "console.cli", "--data-dir", str(data), "sandbox", "serve",
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(port)
        ws = Workspace(data, retry_policy=FAST_RETRIES, sandbox_port=port)
        run = ws.run("Members")
        assert run["status"] == "succeeded" and run["stats"]["crm>mc"]["created"] > 0
        assert run["requests"]["mailchimp"] > 0
    finally:
        server.terminate()
        server.wait(10)
    saved = Workspace(data).sandbox.state.load().accounts["harbor-yoga"].mailchimp.audiences["f6e5d4c3b2"]
    assert len(saved.members) >= run["stats"]["crm>mc"]["created"]
