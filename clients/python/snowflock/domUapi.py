"""The user-domain API of SnowFlock: tickets, clone, merge, join, exit and shutdown, for one domain.

Each call acts for a domain named CLUSTER:VMID (the master is CLUSTER:0). Outside a VM, as the sf
command-line tools with --domain, the calls go to sfmd with the admin token. Pick the domain with
act_as("1:0") (an object with these functions as methods) or, for the module-level functions, with
use_domain("1:0") or $SNOWFLOCK_DOMAIN.

    >>> from snowflock import domUapi
    >>> master = domUapi.act_as("1:0")
    >>> ticket, allowed = master.request_clone_ticket(2)
    >>> nclones, vmid = master.clone_master(ticket)

Every failure raises a snowflock.SnowflockError subclass named after sfmd's code (NotMasterError,
TicketUnknownError, NoResourcesError, ...), carrying the code and sfmd's message.
"""

from __future__ import annotations

import os
from typing import Any, TypedDict

from .client import Sfmd
from .errors import BadInputError


class TicketList(TypedDict):
    """list_tickets' answer: tickets requested but not cloned, and tickets cloned but not merged or joined."""

    unused: list[str]
    outstanding: list[str]


class CloneExit(TypedDict):
    """How one clone of a joined ticket ended: how is "exited", "crashed" or "killed"."""

    vmid: int
    how: str
    status: int
    reason: str | None


class Domain:
    """The seed's user-domain calls, acting for one domain (CLUSTER:VMID).

    Args:
        domain: "CLUSTER:VMID", e.g. "1:0" for cluster 1's master.
        sfmd: the connection to use; default: Sfmd() (URL and admin token found as the CLI finds them).
    """

    def __init__(self, domain: str, sfmd: Sfmd | None = None) -> None:
        parts = domain.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise BadInputError(f"a domain is CLUSTER:VMID, e.g. '1:0' (the master of cluster 1), not {domain!r}")
        self.domain = domain
        self.sfmd = sfmd or Sfmd()

    def __repr__(self) -> str:
        return f"Domain({self.domain!r}, {self.sfmd!r})"

    def _call(self, procedure: str, input: Any = None) -> Any:
        return self.sfmd.call(procedure, input, domain=self.domain)

    # ---- tickets ----

    def request_clone_ticket(
        self, nclones: int, procs: bool = False, min: int = 1, block: bool = False, timeout: float | None = None
    ) -> tuple[str, int]:
        """Reserves resources for up to `nclones` clones of this (master) domain.

        With procs, nclones counts processors, spread over as few clones as fit (none larger than the master).
        At least `min` (1 when 0) must be granted; with block, waits for resources (at most `timeout`
        seconds; None: as long as it takes), else fails at once with NoResourcesError.

        Returns:
            (ticket, allowed_clones): the ticket for clone_master, and how many clones (or processors) it holds.
        """
        request: dict[str, Any] = {"nclones": nclones, "procs": bool(procs), "min": min, "block": bool(block)}
        if timeout is not None:
            request["timeoutMs"] = int(timeout * 1000)
        answer = self._call("ticket.request", request)
        return answer["ticket"], answer["granted"]

    def request_vm_ticket(self, nclones: int) -> tuple[str, int]:
        """request_clone_ticket(nclones, False, 1, False): up to n VM clones, at least one, no wait (as libsf's)."""
        return self.request_clone_ticket(nclones, False, 1, False)

    def request_proc_ticket(self, nprocs: int) -> tuple[str, int]:
        """request_clone_ticket(nprocs, True, 1, False): up to n processors in clones, no wait (as libsf's)."""
        return self.request_clone_ticket(nprocs, True, 1, False)

    def list_tickets(self) -> TicketList:
        """The cluster's tickets in flight: {"unused": [...], "outstanding": [...]}."""
        answer = self._call("ticket.list")
        return {"unused": list(answer["unused"]), "outstanding": list(answer["outstanding"])}

    def read_ticket_info(self, ticket: str) -> list[tuple[int, int]]:
        """The ticket's allocation map: a list of (vmid, processors), one per clone it makes."""
        answer = self._call("ticket.info", {"ticket": ticket})
        return [(a["vmid"], a["processors"]) for a in answer["allocations"]]

    def dispose_ticket(self, ticket: str) -> None:
        """Gives an unused ticket's resources back; the ticket cannot be used afterwards."""
        self._call("ticket.dispose", {"ticket": ticket})

    # ---- clones ----

    def clone_master(self, ticket: str) -> tuple[int, int]:
        """Forks this master domain into the ticket's clones (they start from its memory as it is now).

        Returns:
            (nclones, vmid): clones made, and the caller's vmid, 0 (the master: acting from outside, the
            call returns only there; each clone's own sf_clone answer is its vmid).
        """
        answer = self._call("clone.master", {"ticket": ticket})
        return answer["nclones"], answer["vmid"]

    def merge_master(self, ticket: str | None) -> None:
        """Destroys the clones of `ticket` now (their disks are lost); None: those of every outstanding ticket."""
        self._call("clone.merge", {"ticket": ticket})

    def ic_kill(self, ticket: str | None) -> None:
        """The same as merge_master(ticket)."""
        self.merge_master(ticket)

    def merge_all(self) -> None:
        """merge_master(None): ends the clones of every outstanding ticket."""
        self.merge_master(None)

    def ic_join(self, ticket: str, timeout: float | None = None) -> list[CloneExit]:
        """Waits, like waitpid, until every clone of `ticket` has exited (ic_exit) or died; then the ticket is merged.

        `timeout` seconds at most (CallTimeoutError when it passes); None waits as long as it takes.

        Returns:
            how each clone ended: [{"vmid", "how", "status", "reason"}], in vmid order.
        """
        request: dict[str, Any] = {"ticket": ticket}
        if timeout is not None:
            request["timeoutMs"] = int(timeout * 1000)
        answer = self._call("clone.join", request)
        return [CloneExit(vmid=e["vmid"], how=e["how"], status=e["status"], reason=e["reason"]) for e in answer["exits"]]

    def ic_exit(self, status: int = 0) -> None:
        """Ends this clone (acting from outside, its VM is destroyed), reporting `status` to the master's join."""
        self._call("clone.exit", {"status": status})

    def shutdown_cluster(self) -> None:
        """Shuts the master down and ends the cluster; refused (TicketStateError) while clones are out."""
        self._call("cluster.shutdown")


_default: Domain | None = None


def act_as(
    domain: str, url: str | None = None, token: str | None = None, *, home: str | None = None, fingerprint: str | None = None
) -> Domain:
    """A Domain acting for `domain` (CLUSTER:VMID) through sfmd at `url` with `token` (found as the CLI does),
    trusting sfmd's certificate by `fingerprint` (found as the CLI does when not given)."""
    return Domain(domain, Sfmd(url, token, home=home, fingerprint=fingerprint))


def use_domain(
    domain: str, url: str | None = None, token: str | None = None, *, home: str | None = None, fingerprint: str | None = None
) -> Domain:
    """Makes the module-level functions act for `domain` from now on; returns that Domain."""
    global _default
    _default = act_as(domain, url, token, home=home, fingerprint=fingerprint)
    return _default


def _current() -> Domain:
    global _default
    if _default is None:
        domain = os.environ.get("SNOWFLOCK_DOMAIN")
        if not domain:
            raise BadInputError("say which domain the calls act for: domUapi.use_domain('CLUSTER:VMID') or $SNOWFLOCK_DOMAIN")
        _default = act_as(domain)
    return _default


def request_clone_ticket(
    nclones: int, procs: bool = False, min: int = 1, block: bool = False, timeout: float | None = None
) -> tuple[str, int]:
    return _current().request_clone_ticket(nclones, procs, min, block, timeout)


def request_vm_ticket(nclones: int) -> tuple[str, int]:
    return _current().request_vm_ticket(nclones)


def request_proc_ticket(nprocs: int) -> tuple[str, int]:
    return _current().request_proc_ticket(nprocs)


def list_tickets() -> TicketList:
    return _current().list_tickets()


def read_ticket_info(ticket: str) -> list[tuple[int, int]]:
    return _current().read_ticket_info(ticket)


def dispose_ticket(ticket: str) -> None:
    _current().dispose_ticket(ticket)


def clone_master(ticket: str) -> tuple[int, int]:
    return _current().clone_master(ticket)


def merge_master(ticket: str | None) -> None:
    _current().merge_master(ticket)


def ic_kill(ticket: str | None) -> None:
    _current().ic_kill(ticket)


def merge_all() -> None:
    _current().merge_all()


def ic_join(ticket: str, timeout: float | None = None) -> list[CloneExit]:
    return _current().ic_join(ticket, timeout)


def ic_exit(status: int = 0) -> None:
    _current().ic_exit(status)


def shutdown_cluster() -> None:
    _current().shutdown_cluster()


# help() on a module-level function shows the method's documentation: written once, on Domain.
for _name in (
    "request_clone_ticket",
    "request_vm_ticket",
    "request_proc_ticket",
    "list_tickets",
    "read_ticket_info",
    "dispose_ticket",
    "clone_master",
    "merge_master",
    "ic_kill",
    "merge_all",
    "ic_join",
    "ic_exit",
    "shutdown_cluster",
):
    globals()[_name].__doc__ = (
        f"{getattr(Domain, _name).__doc__}\n\n        Acts for the domain chosen with use_domain(), else $SNOWFLOCK_DOMAIN."
    )
