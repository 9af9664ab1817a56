"""An HTTP(S) + JSON client of sfmd's API (tRPC's conventions, described by sfmd's /openapi.json).

A query is GET /trpc/NAME?input=<JSON>, a mutation POST /trpc/NAME with a JSON body; the answer is
{"result": {"data": ...}}, a failure {"error": {"message", "data": {"sfCode", "httpStatus"}}}.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .config import admin_token, master_fingerprint, master_url, normalize_fingerprint
from .errors import SnowflockError, error_for

# The API's queries (GET); every other procedure is a mutation (POST). /openapi.json says the same.
QUERIES = frozenset(
    {
        "health",
        "whoami",
        "ticket.list",
        "ticket.info",
        "cluster.list",
        "cluster.get",
        "state.hosts",
        "state.domains",
        "host.get",
        "domain.console",
        "operations.list",
        "operations.page",
        "operations.get",
        "operations.stats",
        "doctor.check",
        "dashboard.overview",
        "dashboard.hostMetrics",
        "dashboard.cluster",
        "dashboard.guests",
        "dashboard.checkSeed",
        "token.list",
    }
)

DOMAIN_HEADER = "x-snowflock-domain"
# A busy sfmd answers 429 with a short retry-after: a call is sent again this many times before failing.
_BUSY_RETRIES = 3


class Sfmd:
    """A connection to sfmd: its URL and the admin token (found as the CLI finds them when not given).

    Args:
        url: sfmd's URL; default: $SNOWFLOCK_URL, else from the data directory's sfmd.cfg or sfld.cfg.
        token: an API token (sf token create; its role decides what it may do); default: $SNOWFLOCK_TOKEN,
            else the admin token in $SNOWFLOCK_HOME/admin.token.
        home: the data directory to read them from instead of $SNOWFLOCK_HOME.
        timeout: seconds to wait for any one answer (None: as long as the call takes; joins can be long).
        fingerprint: the SHA-256 fingerprint of sfmd's certificate to trust (sfmd's is self-signed: `sf fingerprint`
            on its machine prints it); default: $SNOWFLOCK_FINGERPRINT, else sfld.cfg's master_fingerprint, else
            the data directory's sfmd.fingerprint. Without one, an https sfmd must have a certificate a CA signed.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.url = (url or master_url(home)).rstrip("/")
        self.token = token if token is not None else admin_token(home)
        self.timeout = timeout
        if fingerprint is not None:
            pin, source = normalize_fingerprint(fingerprint), "fingerprint="
        else:
            pin, source = master_fingerprint(home)
        if pin is None and fingerprint is not None:
            raise error_for("BAD_CONFIG", "fingerprint= is not a SHA-256 fingerprint (64 hex digits, colons optional)")
        self.fingerprint = pin
        handlers = [_PinnedHTTPSHandler(pin, source)] if pin and self.url.startswith("https:") else []
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"Sfmd(url={self.url!r})"

    def api_document(self) -> dict[str, Any]:
        """sfmd's OpenAPI document (/openapi.json), fetched over the same pinned connection as calls."""
        try:
            with self._opener.open(f"{self.url}/openapi.json", timeout=self.timeout) as res:
                return json.load(res)
        except urllib.error.URLError as err:
            raise error_for("UNAVAILABLE", f"sfmd's /openapi.json is not reachable at {self.url} ({err.reason})") from None

    def call(self, procedure: str, input: Any = None, *, domain: str | None = None) -> Any:
        """Calls one procedure (e.g. "ticket.request") and returns its answer's data.

        `domain` (CLUSTER:VMID) is whom a guest call acts for. Raises SnowflockError (a subclass per code).
        """
        headers = {"accept": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if domain is not None:
            headers[DOMAIN_HEADER] = domain
        url = f"{self.url}/trpc/{procedure}"
        body: bytes | None = None
        if procedure in QUERIES:
            method = "GET"
            if input is not None:
                url += "?input=" + urllib.parse.quote(json.dumps(input), safe="")
        else:
            method = "POST"
            headers["content-type"] = "application/json"  # tRPC requires it, even with no body
            body = b"" if input is None else json.dumps(input).encode()
        for attempt in range(_BUSY_RETRIES + 1):
            try:
                return self._send(urllib.request.Request(url, data=body, headers=headers, method=method), procedure)
            except SnowflockError as err:
                wait = getattr(err, "retry_after", None)
                if err.code != "RATE_LIMITED" or attempt == _BUSY_RETRIES or wait is None or wait > 2:
                    raise
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _send(self, request: urllib.request.Request, procedure: str) -> Any:
        try:
            with self._opener.open(request, timeout=self.timeout) as res:
                return _data(json.load(res), procedure)
        except urllib.error.HTTPError as res:
            raise _failure(res, procedure) from None
        except (TimeoutError, socket.timeout):
            raise error_for("TIMEOUT", f"sfmd at {self.url} did not answer {procedure} within {self.timeout} s") from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, ssl.SSLCertVerificationError):
                raise error_for(
                    "BAD_CONFIG",
                    f"sfmd at {self.url} presented a certificate this machine cannot check ({err.reason.verify_message}): "
                    "pass fingerprint= or set SNOWFLOCK_FINGERPRINT to what 'sf fingerprint' prints on sfmd's machine",
                ) from None
            raise error_for(
                "UNAVAILABLE",
                f"sfmd is not reachable at {self.url} ({err.reason}): start it with 'sfmd start' (or npm start), "
                "or pass url= / set SNOWFLOCK_URL",
            ) from None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection that sends nothing until the server's certificate has the pinned SHA-256 fingerprint."""

    pin = ""
    source = ""

    def connect(self) -> None:
        super().connect()
        der = self.sock.getpeercert(binary_form=True) or b""
        digest = hashlib.sha256(der).hexdigest().upper()
        seen = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
        if seen != self.pin:
            self.sock.close()
            origin = f"https://{self.host}:{self.port}"
            raise error_for(
                "BAD_CONFIG",
                f"sfmd at {origin} presented a certificate with SHA-256 fingerprint {seen}, but {self.source} expects "
                f"{self.pin}. If sfmd's certificate was replaced on purpose, put the new fingerprint there ('sf "
                f"fingerprint' on sfmd's machine prints it); otherwise something else answers at {origin}: do not use it",
            )


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, pin: str, source: str) -> None:
        # The pin replaces the CA check: the chain and host name are not what is trusted here.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__(context=context)
        self._connection = type("Pinned", (_PinnedHTTPSConnection,), {"pin": pin, "source": source})

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req, context=self._context)


def _data(answer: Any, procedure: str) -> Any:
    if not isinstance(answer, dict) or "result" not in answer:
        raise error_for("INTERNAL", f"sfmd's answer to {procedure} is not tRPC's result envelope: {str(answer)[:200]}")
    return answer["result"].get("data")


def _failure(res: urllib.error.HTTPError, procedure: str) -> SnowflockError:
    text = res.read().decode("utf-8", "replace")
    try:
        error = json.loads(text)["error"]
        err = error_for(str(error["data"]["sfCode"]), str(error["message"]), res.code)
    except (ValueError, KeyError, TypeError):
        return error_for("INTERNAL", f"{procedure}: HTTP {res.code} from sfmd, not one of its errors: {text[:200]}", res.code)
    retry = res.headers.get("retry-after")
    if retry is not None and retry.isdigit():
        err.retry_after = int(retry)  # type: ignore[attr-defined]
    return err
