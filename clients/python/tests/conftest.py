"""A real Snowflock for the Python API's tests: sfmd and one sfld (host kvm1) started with the sf command in a
temporary $SNOWFLOCK_HOME for the session, stopped and removed after it; VM tests skip, saying why, without KVM."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PYTHON_ROOT = Path(__file__).resolve().parents[1]
REPO = PYTHON_ROOT.parents[1]
SF = REPO / "apps" / "daemon" / "bin" / "sf.mjs"
GUESTS = REPO / "native" / "guest" / "build" / "bin"

sys.path.insert(0, str(PYTHON_ROOT))  # the package as it is in the checkout, installed or not

from snowflock import Sfmd  # noqa: E402


def cannot_run_vms() -> str | None:
    """Why VMs cannot run here (as apps/daemon/test/guests.ts says it), or None."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is missing or not accessible: VM tests need KVM"
    if not (GUESTS / "hello.elf").exists():
        return f"example guests are not built ({GUESTS}): run npm run build"
    if shutil.which("node") is None:
        return "node is not on PATH: the daemons are started with the sf command"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sf(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs `sf ARGS` against the test's home (its output captured)."""
    env = {**os.environ, "SNOWFLOCK_HOME": str(home), "SNOWFLOCK_LOG_LEVEL": "warn"}
    env.pop("SNOWFLOCK_URL", None)
    env.pop("SNOWFLOCK_TOKEN", None)
    result = subprocess.run(["node", str(SF), *args], env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"sf {' '.join(args)} failed ({result.returncode}): {result.stderr}{result.stdout}")
    return result


def seed_file(home: Path, name: str, guest: str, args: str, memory_mib: int = 64) -> Path:
    path = home / name
    path.write_text(f"kernel = '{GUESTS / (guest + '.elf')}'\nvcpus = 1\nmemory = {memory_mib}\nargs = '{args}'\n")
    return path


@pytest.fixture(scope="session")
def snowflock_home() -> Iterator[Path]:
    """A running sfmd + sfld (host kvm1: 4 cpus, 4 GiB) in a fresh data directory; yields the directory."""
    why = cannot_run_vms()
    if why:
        pytest.skip(why)
    home = Path(tempfile.mkdtemp(prefix="sf-pytest-"))
    port = free_port()
    (home / "sfmd.cfg").write_text(
        f"master_listen_port = {port}\ncluster_hosts = [{{'host': 'kvm1', 'cpus': 4, 'RAM': 4 << 30}}]\n"
    )
    # No cluster network: tests share this machine's network namespace with other test runs.
    (home / "sfld.cfg").write_text(
        f"hostname = 'kvm1'\nmaster_host = '127.0.0.1'\nmaster_port = {port}\n"
        f"local_listen_port = {free_port()}\ncluster_network = False\n"
    )
    try:
        sf(home, "sfmd", "start", "--json")
        registered = json.loads(sf(home, "sfld", "start", "--json").stdout)
        assert registered["registered"] is True, registered
        # Clients made from a URL and token alone trust sfmd's certificate as a remote CLI would: by this pin.
        os.environ["SNOWFLOCK_FINGERPRINT"] = (home / "sfmd.fingerprint").read_text().strip()
        yield home
    finally:
        os.environ.pop("SNOWFLOCK_FINGERPRINT", None)
        sf(home, "sfld", "stop", check=False)
        sf(home, "sfmd", "stop", check=False)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def sfmd(snowflock_home: Path) -> Sfmd:
    """A connection found as the CLI finds it: URL from the home's sfmd.cfg, token from its admin.token."""
    return Sfmd(home=snowflock_home, timeout=120)
