"""Every domUapi call against a real sfmd + sfld with real guests (hello, which stays up until told to quit),
acting from outside for the master (CLUSTER:0) and for its clones, as the sf tools do with --domain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import seed_file
from snowflock import Sfmd, dom0api, domUapi


@pytest.fixture(scope="module")
def master(snowflock_home: Path, sfmd: Sfmd) -> Iterator[domUapi.Domain]:
    """A running cluster whose master (and every clone of it) waits at its console: nothing ends by itself."""
    seeded = dom0api.seed(seed_file(snowflock_home, "hello.cfg", "hello", "interactive=1"), sfmd=sfmd)
    dom0api.wait_for_console(seeded.domain, r"hello", timeout=30, sfmd=sfmd)
    yield domUapi.Domain(seeded.domain, sfmd)
    if seeded.domain in dom0api.domains_state(sfmd=sfmd):
        dom0api.shutdown(seeded.domid, sfmd=sfmd)


def state_of(sfmd: Sfmd, domain: str) -> str:
    return dom0api.domains_state(all=True, sfmd=sfmd)[domain]["state"]


def test_tickets_are_requested_listed_read_and_disposed(master: domUapi.Domain) -> None:
    ticket, allowed = master.request_clone_ticket(2, False, 1, False)
    assert len(ticket) == 36 and allowed == 2
    assert ticket in master.list_tickets()["unused"]
    vmids = master.read_ticket_info(ticket)
    assert [p for _, p in vmids] == [1, 1] and len({v for v, _ in vmids}) == 2 and all(v > 0 for v, _ in vmids)
    master.dispose_ticket(ticket)
    assert ticket not in master.list_tickets()["unused"]

    vm_ticket, vms = master.request_vm_ticket(3)
    assert vms == 3 and len(master.read_ticket_info(vm_ticket)) == 3
    master.dispose_ticket(vm_ticket)
    # Processors: the master has 1 vcpu, so 2 processors come as 2 one-processor clones.
    proc_ticket, procs = master.request_proc_ticket(2)
    assert procs == 2 and [p for _, p in master.read_ticket_info(proc_ticket)] == [1, 1]
    master.dispose_ticket(proc_ticket)
    assert master.list_tickets() == {"unused": [], "outstanding": []}


def test_clones_exit_and_the_master_joins_them(master: domUapi.Domain, sfmd: Sfmd) -> None:
    ticket, allowed = master.request_vm_ticket(2)
    assert master.clone_master(ticket) == (allowed, 0)
    assert master.list_tickets()["outstanding"] == [ticket]
    clones = [f"{master.domain.split(':')[0]}:{vmid}" for vmid, _ in master.read_ticket_info(ticket)]
    for clone in clones:
        assert state_of(sfmd, clone) == "running"
        assert isinstance(dom0api.console(clone, sfmd=sfmd), str)  # a clone's console is its own, readable too
    domUapi.act_as(clones[0], sfmd.url, sfmd.token).ic_exit(3)
    domUapi.Domain(clones[1], sfmd).ic_exit(0)
    exits = master.ic_join(ticket, timeout=30)
    assert [(e["how"], e["status"]) for e in exits] == [("exited", 3), ("exited", 0)]
    assert [state_of(sfmd, c) for c in clones] == ["exited", "exited"]
    assert master.list_tickets()["outstanding"] == []


def test_merge_master_ic_kill_and_merge_all_end_the_clones(master: domUapi.Domain, sfmd: Sfmd) -> None:
    cluster = master.domain.split(":")[0]
    for end in (master.merge_master, master.ic_kill, lambda _ticket: master.merge_all()):
        ticket, _ = master.request_vm_ticket(1)
        nclones, vmid = master.clone_master(ticket)
        assert (nclones, vmid) == (1, 0)
        [(clone_vmid, _)] = master.read_ticket_info(ticket)
        assert state_of(sfmd, f"{cluster}:{clone_vmid}") == "running"
        end(ticket)
        # Ended (sfmd records "merged", or "stopped" when its sfld's report of the destroyed VM lands last).
        assert state_of(sfmd, f"{cluster}:{clone_vmid}") in ("merged", "stopped")
        assert master.list_tickets()["outstanding"] == []


def test_module_functions_act_for_the_domain_chosen(master: domUapi.Domain, sfmd: Sfmd) -> None:
    domUapi.use_domain(master.domain, sfmd.url, sfmd.token)
    ticket, _ = domUapi.request_clone_ticket(1)
    assert domUapi.list_tickets()["unused"] == [ticket]
    assert domUapi.read_ticket_info(ticket) == master.read_ticket_info(ticket)
    domUapi.dispose_ticket(ticket)
    ticket, _ = domUapi.request_proc_ticket(1)
    assert domUapi.clone_master(ticket) == (1, 0)
    [(vmid, _)] = domUapi.read_ticket_info(ticket)
    domUapi.merge_master(ticket)
    ticket, _ = domUapi.request_vm_ticket(1)
    domUapi.clone_master(ticket)
    domUapi.ic_kill(ticket)
    ticket, _ = domUapi.request_vm_ticket(1)
    domUapi.clone_master(ticket)
    domUapi.merge_all()
    ticket, _ = domUapi.request_vm_ticket(1)
    domUapi.clone_master(ticket)
    [(vmid, _)] = domUapi.read_ticket_info(ticket)
    domUapi.use_domain(f"{master.domain.split(':')[0]}:{vmid}", sfmd.url, sfmd.token)
    domUapi.ic_exit(7)
    domUapi.use_domain(master.domain, sfmd.url, sfmd.token)
    assert [(e["vmid"], e["status"]) for e in domUapi.ic_join(ticket)] == [(vmid, 7)]


def test_shutdown_cluster_ends_the_master(snowflock_home: Path, sfmd: Sfmd) -> None:
    seeded = dom0api.seed(seed_file(snowflock_home, "bye.cfg", "hello", "interactive=1"), sfmd=sfmd)
    assert dom0api.domains_state(sfmd=sfmd)[seeded.domain]["state"] in ("booting", "running")
    domUapi.Domain(seeded.domain, sfmd).shutdown_cluster()
    assert seeded.domain not in dom0api.domains_state(sfmd=sfmd)
    assert state_of(sfmd, seeded.domain) not in ("booting", "running")
