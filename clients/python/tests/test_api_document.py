"""The client follows sfmd's OpenAPI document: each procedure it calls exists there, with the method it uses."""

from __future__ import annotations

from snowflock import Sfmd, dom0api
from snowflock.client import QUERIES


def test_the_client_calls_each_procedure_with_the_documented_method(sfmd: Sfmd) -> None:
    doc = sfmd.api_document()
    assert doc["openapi"] == "3.1.0"
    methods = {path.removeprefix("/trpc/"): next(iter(ops)) for path, ops in doc["paths"].items() if path.startswith("/trpc/")}
    assert {p for p, m in methods.items() if m == "get"} == set(QUERIES)
    for used in ("ticket.request", "ticket.list", "ticket.info", "ticket.dispose", "clone.master", "clone.merge",
                 "clone.join", "clone.exit", "cluster.shutdown", "cluster.seed", "state.hosts", "state.domains",
                 "domain.console"):  # fmt: skip
        assert used in methods, f"{used} is not in sfmd's API"


def test_hosts_state_reads_the_host(sfmd: Sfmd) -> None:
    hosts = dom0api.hosts_state(sfmd=sfmd)
    assert list(hosts) == ["kvm1"]
    assert hosts["kvm1"]["state"] == "online" and hosts["kvm1"]["cpus"] == 4 and hosts["kvm1"]["kvm"] is True
