"""dom0api.read_seed_config reads an sfseed.cfg as data, as sfseed does (no daemons needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from snowflock import dom0api
from snowflock.errors import BadConfigError


def test_settings_become_cluster_seed_fields_with_paths_from_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "seed.cfg"
    cfg.write_text("kernel = 'guests/align.elf'\nmemory = 64\nargs = 'clones=2'\ninbound_ports = (80, 443)\n")
    assert dom0api.read_seed_config(cfg) == {
        "kernel": str(tmp_path / "guests" / "align.elf"),
        "memoryMiB": 64,
        "args": "clones=2",
        "inboundPorts": [80, 443],
        "vcpus": 1,
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("memory = 64\ncolour = 'red'\n", "unknown setting 'colour'"),
        ("memory = __import__('os').getpid()\n", "must be a literal"),
        ("kernel = 'a.elf'\n", "missing required setting 'memory'"),
        ("import os\n", "only name = value lines"),
    ],
    ids=["unknown-setting", "not-a-literal", "no-memory", "not-an-assignment"],
)
def test_a_bad_seed_config_is_refused_before_any_call(tmp_path: Path, text: str, says: str) -> None:
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(text)
    with pytest.raises(BadConfigError, match=says):
        dom0api.read_seed_config(cfg)
