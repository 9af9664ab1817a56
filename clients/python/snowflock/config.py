"""Where sfmd is and the admin token, found the way the sf command-line tools find them.

The data directory is $SNOWFLOCK_HOME (default ~/.snowflock). sfmd's URL: $SNOWFLOCK_URL, else the home's
sfmd.cfg (master_listen_port, on this machine), else its sfld.cfg (master_host, master_port), else the
default port here: https unless the config says tls = False (sfmd.cfg) or master_tls = False (sfld.cfg). The
admin token: $SNOWFLOCK_TOKEN, else the home's admin.token (sfmd writes it). The fingerprint of sfmd's
certificate, which the client pins: $SNOWFLOCK_FINGERPRINT, else sfld.cfg's master_fingerprint, else the
home's sfmd.fingerprint (sfmd writes it at each start).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

DEFAULT_MASTER_PORT = 61708


def snowflock_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: `home` if given, else $SNOWFLOCK_HOME, else ~/.snowflock."""
    if home is not None:
        return Path(home).expanduser().resolve()
    env = os.environ.get("SNOWFLOCK_HOME")
    return Path(env).expanduser().resolve() if env else Path.home() / ".snowflock"


def read_literals(path: Path) -> dict[str, object]:
    """The `name = literal` settings of a classic config file that Python's literal_eval can read.

    Nothing is executed; a setting whose value is not a plain literal (e.g. `1 << 30`) is skipped.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def _settings(path: Path) -> dict[str, object] | None:
    try:
        return read_literals(path)
    except (OSError, SyntaxError, ValueError):
        return None


def master_url(home: str | os.PathLike[str] | None = None) -> str:
    """sfmd's URL as the CLI resolves it (see the module's doc)."""
    env = os.environ.get("SNOWFLOCK_URL")
    if env:
        return env.rstrip("/")
    base = snowflock_home(home)
    sfmd = _settings(base / "sfmd.cfg")
    if sfmd is not None:
        port = sfmd.get("master_listen_port", DEFAULT_MASTER_PORT)
        return f"{_scheme(sfmd.get('tls', True))}://127.0.0.1:{port}"
    sfld = _settings(base / "sfld.cfg")
    if sfld is not None:
        host, port = sfld.get("master_host", "localhost"), sfld.get("master_port", DEFAULT_MASTER_PORT)
        return f"{_scheme(sfld.get('master_tls', True))}://{host}:{port}"
    return f"https://127.0.0.1:{DEFAULT_MASTER_PORT}"


def _scheme(tls: object) -> str:
    return "http" if tls is False else "https"


def normalize_fingerprint(text: str) -> str | None:
    """A SHA-256 fingerprint in any case, with or without colons, as AA:BB:...; None if it is not one."""
    hex_digits = text.strip()
    if hex_digits.lower().startswith("sha256:"):
        hex_digits = hex_digits[7:]
    hex_digits = hex_digits.replace(":", "").replace(" ", "").upper()
    if len(hex_digits) != 64 or any(c not in "0123456789ABCDEF" for c in hex_digits):
        return None
    return ":".join(hex_digits[i : i + 2] for i in range(0, 64, 2))


def master_fingerprint(home: str | os.PathLike[str] | None = None) -> tuple[str | None, str]:
    """The pin of sfmd's certificate and where it was read (see the module's doc); (None, where one goes) if none."""
    env = os.environ.get("SNOWFLOCK_FINGERPRINT")
    if env:
        return normalize_fingerprint(env), "SNOWFLOCK_FINGERPRINT"
    base = snowflock_home(home)
    sfld = _settings(base / "sfld.cfg")
    pinned = sfld.get("master_fingerprint") if sfld else None
    if isinstance(pinned, str):
        return normalize_fingerprint(pinned), f"master_fingerprint in {base / 'sfld.cfg'}"
    try:
        stored = (base / "sfmd.fingerprint").read_text(encoding="utf-8")
    except OSError:
        return None, "fingerprint= or SNOWFLOCK_FINGERPRINT"
    return normalize_fingerprint(stored), str(base / "sfmd.fingerprint")


def admin_token(home: str | os.PathLike[str] | None = None) -> str | None:
    """The admin token: $SNOWFLOCK_TOKEN, else the home's admin.token; None when neither exists."""
    env = os.environ.get("SNOWFLOCK_TOKEN")
    if env:
        return env
    try:
        token = (snowflock_home(home) / "admin.token").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None
