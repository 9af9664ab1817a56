#!/usr/bin/env python3
"""Seeds the `align` example guest as a cluster of 1 + N VMs, follows its ticket and clones through the Python
API, and prints the master's verified line.

    python3 clients/python/examples/align_cluster.py [--clones N] [--home DIR]

sfmd and an sfld must be running (npm start, or sfmd start and sfld start) and the example guests built
(npm run build); the URL and admin token are found as the sf tools find them ($SNOWFLOCK_HOME).

The clone and the join happen inside the guest, the SnowFlock way: align's master asks for its ticket,
forks itself once its data is ready (clone_master), shares the queries out by vmid, and joins its clones
(ic_join), each clone leaving with ic_exit. Those are the same procedures snowflock.domUapi calls; this
script seeds the cluster (dom0api.seed), watches the ticket as the master sees it (domUapi.list_tickets,
read_ticket_info, acting for CLUSTER:0) and reads the result from the master's console.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without pip install

from snowflock import Sfmd, SnowflockError, dom0api, domUapi  # noqa: E402

GUEST = Path(__file__).resolve().parents[3] / "native" / "guest" / "build" / "bin" / "align.elf"
ALIGN_ARGS = "queries=12 db=128 len=2048 qlen=128"
RESULT = re.compile(r"^align result .*$", re.MULTILINE)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clones", type=int, default=2, help="clones of the master (default 2)")
    parser.add_argument("--home", help="the data directory (default $SNOWFLOCK_HOME)")
    options = parser.parse_args()
    sfmd = Sfmd(home=options.home, timeout=300)

    with tempfile.TemporaryDirectory() as folder:
        cfg = Path(folder) / "align.cfg"
        cfg.write_text(f"kernel = '{GUEST}'\nvcpus = 1\nmemory = 64\nargs = '{ALIGN_ARGS} clones={options.clones}'\n")
        seeded = dom0api.seed(cfg, sfmd=sfmd)
    print(f"seeded cluster {seeded.domid}: master {seeded.domain} at {seeded.ip}")
    master = domUapi.Domain(seeded.domain, sfmd)

    # While the master runs: its ticket as it sees it, unused until the fork, outstanding until the join.
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 240
    while not RESULT.search(dom0api.console(seeded.domain, sfmd=sfmd)):
        if time.monotonic() > deadline:
            raise SystemExit(f"align_cluster: no result from {seeded.domain} within 240 s")
        try:
            tickets = master.list_tickets()
            for state in ("unused", "outstanding"):
                for ticket in tickets[state]:
                    if seen.get(ticket) != state:
                        seen[ticket] = state
                        print(f"ticket {ticket} {state}: allocation {master.read_ticket_info(ticket)}")
        except SnowflockError as err:
            if err.code != "DOMAIN_UNKNOWN":  # the master ended between two looks: its result is there
                raise
        time.sleep(0.1)

    clones = [d for name, d in dom0api.domains_state(all=True, sfmd=sfmd).items() if name.startswith(f"{seeded.domid}:") and d["vmid"] > 0]
    for clone in clones:
        print(f"clone {clone['domain']} on {clone['host']}: {clone['state']}({clone['exitCode']}), ticket {clone['ticket']}")
    line = RESULT.search(dom0api.console(seeded.domain, sfmd=sfmd))
    assert line is not None
    print(line.group(0))
    return 0 if line.group(0).endswith("verified OK") and len(clones) == options.clones else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SnowflockError as err:
        print(f"align_cluster: {err}", file=sys.stderr)
        sys.exit(1)
