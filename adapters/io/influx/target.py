"""Where a run's telemetry goes: the server, org and bucket, the token, and the check made before the run.

The token comes from ``INFLUX_TOKEN`` or from a file named by ``--influx-token-file`` (its first line), never
from a flag's value, and is never printed, logged or written to the results folder (``repr`` hides it).
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.errors import InputError

__all__ = ["TOKEN_ENV", "InfluxTarget", "describe_failure", "http_status", "preflight", "read_token"]

TOKEN_ENV = "INFLUX_TOKEN"


@dataclass(frozen=True)
class InfluxTarget:
    url: str
    org: str
    bucket: str
    token: str = field(repr=False)
    timeout_s: float = 10.0  # one request's connect + read timeout

    def public(self) -> dict[str, str]:
        """What may be written down (influx.json, summary.json): everything but the token."""
        return {"url": self.url, "org": self.org, "bucket": self.bucket}

    def client(self, *, retries: Any = False) -> Any:
        from influxdb_client import InfluxDBClient

        return InfluxDBClient(
            url=self.url, token=self.token, org=self.org, timeout=int(self.timeout_s * 1000), retries=retries
        )


def read_token(token_file: str | None, *, flag: str = "--influx-token-file") -> str:
    """The token: the first line of ``token_file`` if given, else ``$INFLUX_TOKEN``."""
    if token_file:
        p = Path(token_file)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{flag}: cannot read {p}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise InputError(f"{flag}: {p} is not text; expected the token on its first line") from None
        lines = text.strip().splitlines()
        if not lines or not lines[0].strip():
            raise InputError(f"{flag}: {p} is empty; expected the token on its first line")
        return lines[0].strip()
    tok = os.environ.get(TOKEN_ENV, "").strip()
    if not tok:
        raise InputError(
            f"no InfluxDB token: set {TOKEN_ENV} in the environment or pass {flag} PATH "
            "(a file holding the token; a token is never taken from the command line)"
        )
    return tok


def check_url(url: str, flag: str = "--influx-url") -> str:
    try:
        u = urllib.parse.urlsplit(url)
        u.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise InputError(f"{flag}: {url!r} is not a URL ({exc}); e.g. http://127.0.0.1:8086") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise InputError(f"{flag}: {url!r} is not an http(s) URL (e.g. http://127.0.0.1:8086)")
    if u.username or u.password:
        raise InputError(
            f"{flag}: no user or password in the URL (it would be written to influx.json and printed); "
            "the token goes in INFLUX_TOKEN or --influx-token-file"
        )
    return url.rstrip("/")


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a failed write (None: no answer at all)."""
    status = getattr(exc, "status", None)
    return int(status) if isinstance(status, int) else None


def describe_failure(exc: BaseException) -> str:
    """One line about a failed request, without the token (the client's exceptions never carry it)."""
    status = http_status(exc)
    if status is not None:
        body = getattr(exc, "body", None) or getattr(exc, "reason", "") or ""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        return f"HTTP {status}: {str(body).strip()[:300]}"
    reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError wraps the connection error
    return f"{type(exc).__name__}: {reason or exc}"[:300]


def preflight(target: InfluxTarget, line: bytes) -> None:
    """Write ``line`` (the run's first point) synchronously; a server that cannot be reached or refuses the
    token, org or bucket stops the run before it starts (:class:`InputError`, exit 2)."""
    from influxdb_client import WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS

    where = f"InfluxDB at {target.url} (org {target.org!r}, bucket {target.bucket!r})"
    with target.client() as c:
        try:
            c.write_api(write_options=SYNCHRONOUS).write(
                target.bucket, target.org, record=line, write_precision=WritePrecision.MS
            )
        except Exception as exc:
            status = http_status(exc)
            why = describe_failure(exc)
            if status is None:
                raise InputError(
                    f"{where} cannot be reached ({why}); check --influx-url, or run without it and send the "
                    "results later with `twin influx-flush RUN_DIR --all`"
                ) from None
            if status in (401, 403):
                raise InputError(
                    f"{where} refuses the token ({why}); give a token with write access to the bucket "
                    f"in {TOKEN_ENV} or --influx-token-file"
                ) from None
            if status == 404:
                raise InputError(
                    f"{where}: org or bucket not found ({why}); check --influx-org and --influx-bucket"
                ) from None
            raise InputError(f"{where} refused the first point ({why})") from None
