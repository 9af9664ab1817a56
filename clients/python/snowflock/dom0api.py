"""The domain-0 API of SnowFlock: seed a new cluster's master, read the state of hosts and domains, shut down.

These calls are the admin's (the sf command-line tools use the same procedures): they go to sfmd with the
admin token, found as the CLI finds it ($SNOWFLOCK_TOKEN, else $SNOWFLOCK_HOME/admin.token) unless an
Sfmd connection is given with sfmd=.

    >>> from snowflock import dom0api
    >>> seeded = dom0api.seed("align.cfg")
    >>> seeded.domain            # its master, CLUSTER:0
    '3:0'
"""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path
from typing import Any, NamedTuple

from .client import Sfmd
from .errors import BadConfigError, CallTimeoutError

# sfseed.cfg's settings and the names cluster.seed takes them by.
_SEED_FIELDS = {
    "disk_image": "diskImage",
    "kernel": "kernel",
    "args": "args",
    "vcpus": "vcpus",
    "memory": "memoryMiB",
    "name": "name",
    "inbound_ports": "inboundPorts",
}
_SEED_PATHS = ("disk_image", "kernel")


class Seeded(NamedTuple):
    """seed's answer, as sfseed prints it: the new cluster's id (SnowFlock's domid) and its master's IP."""

    domid: int
    ip: str | None

    @property
    def domain(self) -> str:
        """The master domain, CLUSTER:0: what domUapi.act_as takes."""
        return f"{self.domid}:0"


def read_seed_config(cfgpath: str | Path) -> dict[str, Any]:
    """An sfseed.cfg as cluster.seed's config: literals only (nothing is run), paths made absolute from the file's folder."""
    path = Path(cfgpath)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except OSError as err:
        raise BadConfigError(f"cannot read the seed config {path}: {err.strerror}") from None
    except SyntaxError as err:
        raise BadConfigError(f"{path}:{err.lineno}: not a config of name = value lines: {err.msg}") from None
    config: dict[str, Any] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise BadConfigError(f"{path}:{node.lineno}: only name = value lines may be in a seed config")
        name = node.targets[0].id
        if name not in _SEED_FIELDS:
            raise BadConfigError(f"{path}:{node.lineno}: unknown setting {name!r}: a seed config has {', '.join(_SEED_FIELDS)}")
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            raise BadConfigError(f"{path}:{node.lineno}: {name} must be a literal (a number, 'string', list or None)") from None
        if name in _SEED_PATHS and isinstance(value, str):
            value = str((path.parent / value).resolve())
        if name == "inbound_ports" and isinstance(value, tuple):
            value = list(value)
        config[_SEED_FIELDS[name]] = value
    if "memory" not in {k for k, v in _SEED_FIELDS.items() if v in config}:
        raise BadConfigError(f"{path}: missing required setting 'memory': the seed VM's memory in MiB, e.g. memory = 1024")
    config.setdefault("vcpus", 1)
    return config


def seed(cfgpath: str | Path, *, sfmd: Sfmd | None = None) -> Seeded:
    """Starts a new cluster: boots its master VM as the sfseed.cfg at `cfgpath` describes (as sfseed does).

    Returns:
        Seeded(domid, ip): the cluster's id (its master is domid:0, see .domain) and the master's IP (None
        without a cluster network).
    """
    cluster = (sfmd or Sfmd()).call("cluster.seed", {"config": read_seed_config(cfgpath)})
    master = next((d for d in cluster["domains"] if d["vmid"] == 0), None)
    return Seeded(cluster["clusterid"], master["ip"] if master else None)


def domains_state(all: bool = False, *, sfmd: Sfmd | None = None) -> dict[str, dict[str, Any]]:
    """The running domains (all=True: ended ones too), by "CLUSTER:VMID": host, state, vcpus, memory, ip, ticket, ..."""
    rows = (sfmd or Sfmd()).call("state.domains", {"all": bool(all)})
    return {row["domain"]: row for row in rows}


def hosts_state(*, sfmd: Sfmd | None = None) -> dict[str, dict[str, Any]]:
    """The hosts of sfmd.cfg by name: state, cpus and RAM, what is used of them, KVM, last metrics."""
    return {row["name"]: row for row in (sfmd or Sfmd()).call("state.hosts")}


def shutdown(cluster: int | str, *, sfmd: Sfmd | None = None) -> None:
    """Shuts down a cluster's master (as sfshutdown --domain CLUSTER:0); refused while clones are out."""
    clusterid = str(cluster).split(":")[0]
    (sfmd or Sfmd()).call("cluster.shutdown", domain=f"{clusterid}:0")


def console(domain: str, *, sfmd: Sfmd | None = None) -> str:
    """What the domain (CLUSTER:VMID) printed on its console: the last 64 KiB its host keeps."""
    clusterid, vmid = (int(part) for part in domain.split(":"))
    return (sfmd or Sfmd()).call("domain.console", {"clusterid": clusterid, "vmid": vmid})["text"]


def wait_for_console(domain: str, pattern: str, timeout: float = 60.0, *, sfmd: Sfmd | None = None) -> re.Match[str]:
    """Waits until the domain's console shows a line matching the regular expression `pattern`; returns the match.

    Raises CallTimeoutError after `timeout` seconds without it.
    """
    expr = re.compile(pattern, re.MULTILINE)
    deadline = time.monotonic() + timeout
    while True:
        found = expr.search(console(domain, sfmd=sfmd))
        if found:
            return found
        if time.monotonic() > deadline:
            raise CallTimeoutError(f"{domain}'s console showed no line matching {pattern!r} within {timeout} s")
        time.sleep(0.2)
