"""Snowflock's errors as Python exceptions: one class per code of sfmd's error table.

Every failure of a call raises a SnowflockError (or a subclass named after its code), carrying the
code, the message sfmd wrote (what happened and what to do) and the HTTP status it came with.
"""

from __future__ import annotations

# The codes of sfmd's error table (apps/daemon/src/common/errors.ts); the tests check this list against
# the one in sfmd's /openapi.json, so a new code cannot be missed here.
ERROR_CODES: tuple[str, ...] = (
    "BAD_INPUT",
    "BAD_CONFIG",
    "TOO_LARGE",
    "RATE_LIMITED",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_MASTER",
    "NOT_CLONE",
    "NO_RESOURCES",
    "TICKET_UNKNOWN",
    "TICKET_STATE",
    "CLUSTER_UNKNOWN",
    "DOMAIN_UNKNOWN",
    "HOST_UNKNOWN",
    "OPERATION_UNKNOWN",
    "TOKEN_UNKNOWN",
    "TOKEN_EXISTS",
    "HOST_LOST",
    "KVM_UNAVAILABLE",
    "TIMEOUT",
    "STILL_WAITING",
    "UNAVAILABLE",
    "INTERNAL",
)


class SnowflockError(Exception):
    """A call to sfmd failed.

    Attributes:
        code: the error table's code, e.g. "TICKET_UNKNOWN" (catch the subclass of that name,
            TicketUnknownError, to handle one kind).
        message: sfmd's explanation, which says what to do next.
        http_status: the HTTP status of the answer (None when no answer came).
    """

    code: str = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _class_name(code: str) -> str:
    if code == "TIMEOUT":
        return "CallTimeoutError"  # not the builtin TimeoutError's name
    return "".join(part.capitalize() for part in code.split("_")) + "Error"


#: The exception class of each code: ERRORS["NOT_MASTER"] is NotMasterError.
ERRORS: dict[str, type[SnowflockError]] = {
    code: type(_class_name(code), (SnowflockError,), {"code": code, "__doc__": f"sfmd refused a call with {code}."})
    for code in ERROR_CODES
}

BadInputError = ERRORS["BAD_INPUT"]
BadConfigError = ERRORS["BAD_CONFIG"]
TooLargeError = ERRORS["TOO_LARGE"]
RateLimitedError = ERRORS["RATE_LIMITED"]
UnauthorizedError = ERRORS["UNAUTHORIZED"]
ForbiddenError = ERRORS["FORBIDDEN"]
NotMasterError = ERRORS["NOT_MASTER"]
NotCloneError = ERRORS["NOT_CLONE"]
NoResourcesError = ERRORS["NO_RESOURCES"]
TicketUnknownError = ERRORS["TICKET_UNKNOWN"]
TicketStateError = ERRORS["TICKET_STATE"]
ClusterUnknownError = ERRORS["CLUSTER_UNKNOWN"]
DomainUnknownError = ERRORS["DOMAIN_UNKNOWN"]
HostUnknownError = ERRORS["HOST_UNKNOWN"]
OperationUnknownError = ERRORS["OPERATION_UNKNOWN"]
TokenUnknownError = ERRORS["TOKEN_UNKNOWN"]
TokenExistsError = ERRORS["TOKEN_EXISTS"]
HostLostError = ERRORS["HOST_LOST"]
KvmUnavailableError = ERRORS["KVM_UNAVAILABLE"]
CallTimeoutError = ERRORS["TIMEOUT"]
StillWaitingError = ERRORS["STILL_WAITING"]
UnavailableError = ERRORS["UNAVAILABLE"]
InternalError = ERRORS["INTERNAL"]


def error_for(code: str, message: str, http_status: int | None = None) -> SnowflockError:
    """The exception for an error sfmd answered with (a code this client does not know: SnowflockError)."""
    cls = ERRORS.get(code)
    if cls is None:
        return SnowflockError(message, code=code, http_status=http_status)
    return cls(message, http_status=http_status)
