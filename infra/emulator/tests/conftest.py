"""Fixtures for the emulator tests: the emulator (AWS_ENDPOINT_URL when scripts/with-emulator.sh
runs them; otherwise the launcher is started here on a free port and stopped by its PID) and
stacks of infra/template.yaml deployed on it, each under a unique name and deleted afterwards."""
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.emulator import deploy  # noqa: E402


@pytest.fixture(scope="session")
def endpoint():
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield os.environ["AWS_ENDPOINT_URL"]
        return
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = subprocess.Popen([sys.executable, "-m", "infra.emulator.server", "-H", "127.0.0.1", "-p", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/moto-api/")
                break
            except OSError:
                assert server.poll() is None, "the emulator did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


class Stacks:
    """Deploys stacks for a test (or a module) and deletes them at its end."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.deployed = []
        self.seconds = []

    def deploy(self, name, region="us-east-1", **kwargs):
        stack = unique(name)
        description = deploy.deploy(self.endpoint, stack, region, **kwargs)
        self.deployed.append((stack, region))
        self.seconds.append(description["stack"]["seconds"])
        return description

    def client(self, description, service):
        return deploy.clients(self.endpoint, description["stack"]["region"])(service)

    def delete_all(self):
        for stack, region in reversed(self.deployed):
            deploy.delete(self.endpoint, stack, region)
        self.deployed.clear()


@pytest.fixture(scope="module")
def stacks(endpoint):
    s = Stacks(endpoint)
    yield s
    s.delete_all()
    if s.seconds:
        print(f"\nstacks deployed: {len(s.seconds)}, seconds each: {s.seconds}")
