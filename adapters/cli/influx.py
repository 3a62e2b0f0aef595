"""Telemetry to InfluxDB on the command line: the ``--influx-*`` flags of ``twin run``, ``twin hil`` and
``twin replay``, and ``twin influx-flush RUN_DIR`` (the spool, or the whole run, sent later).

    twin run S --influx-url http://127.0.0.1:8086 --influx-org site --influx-bucket twin   (token: $INFLUX_TOKEN)
    twin influx-flush RUN_DIR [--all] [--influx-url ...]                                    (the same token rules)

The token is never a flag's value: ``INFLUX_TOKEN`` or ``--influx-token-file PATH`` (docs/telemetry.md).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from twin.errors import InputError

__all__ = ["add_influx_arguments", "add_parser", "cmd_influx_flush", "influx_options", "report_influx"]

_FLAGS = (
    "influx_org",
    "influx_bucket",
    "influx_token_file",
    "influx_run_id",
    "influx_pack_every_s",
    "influx_spool_mb",
    "influx_flush_timeout_s",
)


def _target_arguments(g: Any, *, required_help: str) -> None:
    g.add_argument("--influx-url", metavar="URL", help=f"InfluxDB 2 (or a server of its v2 write API) {required_help}")
    g.add_argument("--influx-org", metavar="ORG", help="the organisation")
    g.add_argument("--influx-bucket", metavar="BUCKET", help="the bucket")
    g.add_argument(
        "--influx-token-file",
        metavar="PATH",
        help="a file whose first line is the token (default: the INFLUX_TOKEN environment variable)",
    )


def add_influx_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "telemetry to InfluxDB",
        "stream the run to InfluxDB while it goes (docs/telemetry.md: schema, spool, dashboard); the results "
        "folder stays the source of truth",
    )
    _target_arguments(g, required_help="to stream to, e.g. http://127.0.0.1:8086")
    g.add_argument("--influx-run-id", metavar="ID", help="the run tag (default: <scenario>-<UTC time>-<4 hex>)")
    g.add_argument(
        "--influx-pack-every-s",
        type=float,
        metavar="S",
        help="pack points at most this often (default: every pack snapshot, models.fleet.record_packs_every_s)",
    )
    g.add_argument("--influx-spool-mb", type=float, metavar="MB", help="the on-disk spool's bound (default 2048)")
    g.add_argument(
        "--influx-flush-timeout-s",
        type=float,
        metavar="S",
        help="at the end, how long the spool may take to send before it is left for twin influx-flush (default 60)",
    )


def _target(args: argparse.Namespace, saved: dict[str, Any] | None = None) -> Any:
    from adapters.io.influx.target import InfluxTarget, check_url, read_token

    saved = saved or {}
    url = args.influx_url or saved.get("url")
    org = args.influx_org or saved.get("org")
    bucket = args.influx_bucket or saved.get("bucket")
    missing = [f for f, v in (("--influx-url", url), ("--influx-org", org), ("--influx-bucket", bucket)) if not v]
    if missing:
        raise InputError(f"{', '.join(missing)}: needed to write to InfluxDB (an org and a bucket on the server)")
    assert url and org and bucket
    return InfluxTarget(url=check_url(url), org=org, bucket=bucket, token=read_token(args.influx_token_file))


def influx_options(args: argparse.Namespace) -> Any:
    """The run's :class:`adapters.io.influx.sink.InfluxOptions`, or None without ``--influx-url``."""
    from adapters.io.influx.sink import InfluxOptions

    if not args.influx_url:
        given = [f"--{f.replace('_', '-')}" for f in _FLAGS if getattr(args, f, None) is not None]
        if given:
            raise InputError(f"{', '.join(given)}: no --influx-url given; the run would not write to InfluxDB")
        return None
    for flag, v, lo in (
        ("--influx-pack-every-s", args.influx_pack_every_s, 0.0),
        ("--influx-spool-mb", args.influx_spool_mb, 0.0),
        ("--influx-flush-timeout-s", args.influx_flush_timeout_s, -1e-12),
    ):
        if v is not None and (not math.isfinite(v) or v <= lo):
            what = "a number >= 0" if lo < 0 else "a positive number"
            raise InputError(f"{flag}: expected {what}, got {v:g}")
    opts = InfluxOptions(target=_target(args), run_id=args.influx_run_id, pack_every_s=args.influx_pack_every_s)
    if args.influx_spool_mb is not None:
        opts = replace(opts, spool_mb=args.influx_spool_mb)
    if args.influx_flush_timeout_s is not None:
        opts = replace(opts, flush_timeout_s=args.influx_flush_timeout_s)
    return opts


def report_influx(summary: dict[str, Any], out_dir: Path) -> None:
    """The sink's counts in one line; points dropped or left in the spool said loudly on stderr."""
    s = summary.get("influx")
    if not s:
        return
    if "error" in s:
        print(
            f"twin: InfluxDB sink failed: {s['error']}; {s.get('in_spool', 0)} points wait in "
            f"{out_dir / 'influx.spool'}; send them, or the whole run, with `twin influx-flush {out_dir} --all`",
            file=sys.stderr,
        )
        return
    print(
        f"influx ({s['url']}, bucket {s['bucket']}, run {s['run']}): {s['points']} points, {s['written']} written, "
        f"{s['retried']} retried, {s['spooled']} spooled, {s['dropped']} dropped, {s['in_spool']} left in the spool"
    )
    if s["dropped"]:
        print(f"twin: WARNING: {s['dropped']} InfluxDB points were DROPPED (see the influx_* events)", file=sys.stderr)
    if s["in_spool"]:
        print(
            f"twin: {s['in_spool']} InfluxDB points wait in {out_dir / 'influx.spool'}; "
            f"send them with `twin influx-flush {out_dir}`",
            file=sys.stderr,
        )


# --------------------------------------------------------------------------- twin influx-flush
def add_parser(sub: Any) -> None:
    f = sub.add_parser(
        "influx-flush",
        help="send a run's spooled InfluxDB points (or, with --all, the whole run from its results folder)",
    )
    f.add_argument("run_dir", metavar="RUN_DIR")
    f.add_argument(
        "--all",
        action="store_true",
        help="send the whole run from timeseries.parquet, packs.parquet and summary.json (same points and "
        "timestamps; the server keeps one of each), for a run made without the sink or one whose sink failed",
    )
    _target_arguments(f, required_help="(default: the one in RUN_DIR/influx.json)")
    f.add_argument("--influx-run-id", metavar="ID", help="with --all: the run tag (default: influx.json's, or new)")
    f.add_argument("--timeout-s", type=float, default=600.0, metavar="S", help="give up after this long (default 600)")
    f.set_defaults(func=cmd_influx_flush)


def cmd_influx_flush(args: argparse.Namespace) -> int:
    from adapters.io.influx.flush import flush_run

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such results folder")
    saved: dict[str, Any] = {}
    meta = run_dir / "influx.json"
    if meta.exists():
        try:
            saved = json.loads(meta.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{meta}: not JSON ({exc})") from None
        tags = saved.get("tags") if isinstance(saved, dict) else None
        if (
            not isinstance(saved, dict)
            or not isinstance(tags, dict)
            or not all(isinstance(tags.get(k), str) for k in ("site", "scenario", "run"))
            or not isinstance(saved.get("start_ms"), int)
        ):
            raise InputError(
                f"{meta}: expected an object with tags (site, scenario, run: text) and start_ms (an integer), "
                "as a run writes it; send the run whole with --all after removing the file"
            )
    elif not args.all:
        raise InputError(f"{meta}: missing; this run did not stream to InfluxDB (send it whole with --all)")
    if not math.isfinite(args.timeout_s) or args.timeout_s <= 0:
        raise InputError(f"--timeout-s: expected a positive number of seconds, got {args.timeout_s:g}")
    target = _target(args, saved)
    res = flush_run(run_dir, target, saved, whole=args.all, run_id=args.influx_run_id, timeout_s=args.timeout_s)
    print(
        f"influx-flush {run_dir}: {res['written']} points written, {res['dropped']} dropped, "
        f"{res['in_spool']} left in the spool"
    )
    if res["dropped"]:
        print(f"twin: WARNING: {res['dropped']} points were DROPPED: {res.get('why', '')}", file=sys.stderr)
    if res["in_spool"]:
        print(
            f"twin: {res['in_spool']} points are still in {run_dir / 'influx.spool'}: the server did not take them "
            f"within {args.timeout_s:g} s (last: {res.get('last_error', 'no answer')}); run this again later",
            file=sys.stderr,
        )
    return 0 if not res["in_spool"] else 1
