"""The host name a task instance records (`[core] hostname_callable` in the production-shaped stack).

Both Celery workers of a local stack run on one machine, so the machine's name would not tell them apart: each
worker process gets its component name in DEVSTACK_WORKER_HOSTNAME, and a task instance's `hostname` (each
try's, in the REST API) says which worker ran it. Other components fall back to the machine's name.
"""

from __future__ import annotations

import os
import socket

WORKER_HOSTNAME_VARIABLE = "DEVSTACK_WORKER_HOSTNAME"


def worker_hostname() -> str:
    return os.environ.get(WORKER_HOSTNAME_VARIABLE) or socket.getfqdn()
