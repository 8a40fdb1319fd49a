"""Named fault points for fault-injection tests (inert unless ``$IMUDATA_FAULT`` names the point).

``IMUDATA_FAULT=finalize:after-shards`` makes the process kill itself with SIGKILL (as ``kill -9``
would) when it reaches ``fault_point("finalize:after-shards")``; several points may be given,
comma-separated. Nothing else reads the variable; unset, a fault point is one dictionary lookup.
The points are listed in docs/reliability.md.
"""
from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    """Kill this process at once (SIGKILL, no cleanup) if ``$IMUDATA_FAULT`` names this point."""
    wanted = os.environ.get("IMUDATA_FAULT")
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
