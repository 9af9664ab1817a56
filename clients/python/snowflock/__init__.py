"""Snowflock's Python API: dom0api (seed, state, shutdown) and domUapi (the seed's user-domain calls).

Both speak to sfmd over HTTPS (its certificate pinned by fingerprint) + JSON (see sfmd's /openapi.json); errors
are SnowflockError subclasses.
"""

from . import dom0api, domUapi
from .client import Sfmd
from .errors import (
    ERRORS,
    BadInputError,
    CallTimeoutError,
    DomainUnknownError,
    ForbiddenError,
    NoResourcesError,
    NotCloneError,
    NotMasterError,
    SnowflockError,
    TicketStateError,
    TicketUnknownError,
    UnauthorizedError,
    UnavailableError,
)

__all__ = [
    "ERRORS",
    "BadInputError",
    "CallTimeoutError",
    "DomainUnknownError",
    "ForbiddenError",
    "NoResourcesError",
    "NotCloneError",
    "NotMasterError",
    "Sfmd",
    "SnowflockError",
    "TicketStateError",
    "TicketUnknownError",
    "UnauthorizedError",
    "UnavailableError",
    "dom0api",
    "domUapi",
]
