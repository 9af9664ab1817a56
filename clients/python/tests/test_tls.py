"""sfmd's certificate is trusted by its fingerprint: the pinned one works, a wrong one is refused before anything is
sent, with both fingerprints and where the wrong one came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from snowflock import Sfmd
from snowflock.errors import SnowflockError

WRONG = ":".join(["AB"] * 32)


def test_sfmd_speaks_https_and_the_data_directory_pin_is_used(sfmd: Sfmd, snowflock_home: Path) -> None:
    assert sfmd.url.startswith("https://")
    assert sfmd.fingerprint == (snowflock_home / "sfmd.fingerprint").read_text().strip()
    assert sfmd.call("health")["ok"] is True


def test_a_wrong_fingerprint_is_refused_naming_both(sfmd: Sfmd, snowflock_home: Path) -> None:
    wrong = Sfmd(home=snowflock_home, timeout=10, fingerprint=WRONG.replace(":", "").lower())
    with pytest.raises(SnowflockError) as caught:
        wrong.call("state.hosts")
    assert caught.value.code == "BAD_CONFIG"
    assert WRONG in caught.value.message and str(sfmd.fingerprint) in caught.value.message
    assert "fingerprint= expects" in caught.value.message
