"""sfmd's refusals reach Python as the exception of their code, with sfmd's message and HTTP status."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conftest import seed_file
from snowflock import (
    BadInputError,
    DomainUnknownError,
    NotCloneError,
    NotMasterError,
    Sfmd,
    SnowflockError,
    TicketUnknownError,
    UnauthorizedError,
    UnavailableError,
    dom0api,
    domUapi,
)
from snowflock.errors import ERROR_CODES, error_for


def test_a_wrong_token_is_unauthorized(sfmd: Sfmd) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        dom0api.hosts_state(sfmd=Sfmd(sfmd.url, "not-the-token"))
    assert caught.value.code == "UNAUTHORIZED" and caught.value.http_status == 401
    assert "the token is not known to sfmd" in caught.value.message
    with pytest.raises(UnauthorizedError):
        domUapi.act_as("1:0", sfmd.url, "not-the-token").list_tickets()


def test_an_unknown_ticket_and_domain_are_named(snowflock_home: Path, sfmd: Sfmd) -> None:
    seeded = dom0api.seed(seed_file(snowflock_home, "errors.cfg", "hello", "interactive=1"), sfmd=sfmd)
    master = domUapi.Domain(seeded.domain, sfmd)
    try:
        missing = str(uuid.uuid4())
        with pytest.raises(TicketUnknownError) as caught:
            master.read_ticket_info(missing)
        assert caught.value.http_status == 404 and missing in caught.value.message
        with pytest.raises(TicketUnknownError):
            master.clone_master(missing)
        with pytest.raises(BadInputError):
            master.dispose_ticket("not-a-ticket")
        with pytest.raises(DomainUnknownError):
            domUapi.Domain(f"{seeded.domid}:99", sfmd).list_tickets()

        # A master-only call from a clone, and a clone-only call from the master.
        ticket, _ = master.request_vm_ticket(1)
        master.clone_master(ticket)
        [(vmid, _)] = master.read_ticket_info(ticket)
        clone = domUapi.Domain(f"{seeded.domid}:{vmid}", sfmd)
        with pytest.raises(NotMasterError) as refused:
            clone.request_vm_ticket(1)
        assert refused.value.code == "NOT_MASTER" and refused.value.http_status == 403
        with pytest.raises(NotMasterError):
            clone.ic_join(ticket)
        with pytest.raises(NotCloneError):
            master.ic_exit(0)
        master.merge_all()
    finally:
        master.shutdown_cluster()


def test_no_sfmd_is_unavailable() -> None:
    with pytest.raises(UnavailableError) as caught:
        Sfmd("http://127.0.0.1:9", "x", timeout=5).call("health")
    assert "not reachable" in caught.value.message


def test_the_error_classes_are_the_error_table(sfmd: Sfmd) -> None:
    """The client's codes and the document's: a new code in sfmd's table must get its class here."""
    doc = sfmd.api_document()
    table = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["data"]["properties"]["sfCode"]["enum"]
    assert list(ERROR_CODES) == table
    err = error_for("NOT_MASTER", "m", 403)
    assert isinstance(err, NotMasterError) and isinstance(err, SnowflockError) and str(err) == "NOT_MASTER: m"
    assert type(error_for("SOMETHING_NEW", "m")) is SnowflockError
