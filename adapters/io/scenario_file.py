"""Read a scenario TOML file into a validated :class:`twin.config.Scenario`.

Every problem in the file is reported at once, each with the file, the line
(where it can be found), the key, the value received, what is allowed, and
a close match for a misspelled key or name. :class:`ScenarioError` carries
the message; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.io.inventory_csv import InventoryError, read_inventory_csv
from twin.config import Scenario, cross_check
from twin.errors import ScenarioFileError
from twin.fleet.inventory import FleetInventory
from twin.validation import find_line, format_problems, format_validation_error, key_path


class ScenarioError(ScenarioFileError):
    """Kept for code written against the old name; raise :class:`twin.errors.ScenarioFileError`."""


def format_errors(path: Path, text: str, data: dict[str, Any], exc: ValidationError) -> str:
    """Every validation problem of a scenario file, with its line: one message, or a list under a header."""
    return format_problems(
        str(path), format_validation_error(exc, model=Scenario, source=str(path), text=text, data=data)
    )


def load_scenario(path: str | Path) -> Scenario:
    """Parse and validate a scenario file; raise :class:`ScenarioError` with every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        near = (
            difflib.get_close_matches(p.name, [q.name for q in p.parent.glob("*.toml")], n=1)
            if p.parent.is_dir()
            else []
        )
        hint = f"; did you mean '{p.parent / near[0]}'?" if near else ""
        raise ScenarioError(f"{p}: no such scenario file{hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{p}: cannot read the file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_errors(p, text, data, exc)) from None
    msgs = []
    for loc, msg in cross_check(sc):
        line = find_line(text, loc)
        msgs.append(f"{p}:{line}: {key_path(loc)}: {msg}" if line else f"{p}: {key_path(loc)}: {msg}")
    if sc.models.fleet.inventory_csv:
        inv_msgs, sc = _check_inventory(p, text, sc)
        msgs += inv_msgs
    if msgs:
        n = len(msgs)
        raise ScenarioError(
            msgs[0]
            if n == 1
            else f"{p}: {n} problems in the scenario:\n" + "\n".join("  " + m.replace("\n", "\n  ") for m in msgs)
        )
    if not sc.name:
        sc = sc.model_copy(update={"name": p.stem})
    _check_controller(p, text, sc)
    return sc


def load_inventory(sc: Scenario) -> FleetInventory | None:
    """The pack list named by ``models.fleet.inventory_csv``; None when the fleet is drawn from the mix.

    :func:`load_scenario` has already checked the file and made its path
    absolute; a relative path (a scenario built in code) is taken from the
    working directory. Raises :class:`ScenarioError` if the file cannot be used.
    """
    rel = sc.models.fleet.inventory_csv
    if not rel:
        return None
    try:
        return read_inventory_csv(Path(rel), sc.site.bess.n_blocks, sc.models.fleet.thermal)
    except InventoryError as exc:
        raise ScenarioError(f"models.fleet.inventory_csv = {rel!r}: {exc}") from None


def _id_list(ids: list[int]) -> str:
    """Pack ids for a message: ``0..804`` when contiguous, else the smallest and largest."""
    lo, hi = min(ids), max(ids)
    return f"{lo}..{hi}" if hi - lo + 1 == len(ids) else f"{len(ids)} ids from {lo} to {hi}"


def _check_inventory(p: Path, text: str, sc: Scenario) -> tuple[list[str], Scenario]:
    """Read the scenario's inventory CSV and check the events' pack selectors against it.

    Returns the problems (messages with file and line) and the scenario with the
    CSV's absolute path and its pack count filled in (so that the results'
    ``scenario.toml`` names the file wherever it is read from).
    """
    fl = sc.models.fleet
    rel = fl.inventory_csv
    assert rel
    key = ("models", "fleet", "inventory_csv")
    line = find_line(text, key)
    where = f"{p}:{line}" if line else str(p)
    csv_path = p.parent / rel
    try:
        inv = read_inventory_csv(csv_path, sc.site.bess.n_blocks, fl.thermal)
    except InventoryError as exc:
        return [f"{where}: models.fleet.inventory_csv = {rel!r}: {exc}"], sc

    problems: list[tuple[tuple[str | int, ...], str]] = []
    if "n_packs" in fl.model_fields_set and fl.n_packs != inv.n_packs:
        problems.append(
            (
                ("models", "fleet", "n_packs"),
                (
                    f"{fl.n_packs} but {rel} lists {inv.n_packs} packs; leave n_packs out when "
                    "inventory_csv is given (the inventory sets the number of packs)"
                ),
            )
        )
    ids = sorted(inv.pack_id.tolist())
    known_ids = set(ids)
    vehicles = sorted(set(inv.vehicle.tolist()))
    rows = sorted(set(inv.yard_row.tolist()))
    for i, ev in enumerate(sc.events):
        packs = getattr(ev, "packs", None) or ((ev.pack,) if hasattr(ev, "pack") else ())
        k = "packs" if hasattr(ev, "packs") else "pack"
        ok = True
        missing = [q for q in dict.fromkeys(packs) if q not in known_ids]
        if missing:
            ok = False
            problems.append(
                (
                    ("events", i, k),
                    (
                        f"{ev.kind}: pack{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} "
                        f"not in the inventory {rel} (pack ids: {_id_list(ids)})"
                    ),
                )
            )
        veh = getattr(ev, "vehicle", None)
        if veh is not None and veh not in vehicles:
            ok = False
            close = difflib.get_close_matches(veh, vehicles, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ";"
            problems.append(
                (
                    ("events", i, "vehicle"),
                    (f"{ev.kind}: vehicle {veh!r} is not in the inventory {rel}{hint} Allowed: {', '.join(vehicles)}"),
                )
            )
        row = getattr(ev, "yard_row", None)
        if row is not None and row not in rows:
            ok = False
            problems.append(
                (
                    ("events", i, "yard_row"),
                    (f"{ev.kind}: no pack of the inventory {rel} stands in yard row {row} (rows: {_id_list(rows)})"),
                )
            )
        blk = getattr(ev, "block", None)
        if blk is not None and blk >= sc.site.bess.n_blocks:
            ok = False  # reported by cross_check
        if ok and k == "packs" and not len(inv.select(packs=tuple(packs), vehicle=veh, yard_row=row, block=blk)):
            given = [
                f"{n} = {v!r}"
                for n, v in (("packs", list(packs) or None), ("vehicle", veh), ("yard_row", row), ("block", blk))
                if v is not None
            ]
            problems.append(
                (
                    ("events", i, "kind"),
                    (
                        f"{ev.kind}: selects no pack of the inventory {rel}: no pack matches "
                        f"{' and '.join(given)} together"
                    ),
                )
            )
    missing = [q for q in dict.fromkeys(sc.hil.packs) if q not in known_ids]
    if missing:
        problems.append(
            (
                ("hil", "packs"),
                (
                    f"pack{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(map(str, missing))} not in the inventory {rel} "
                    f"(pack ids: {_id_list(ids)})"
                ),
            )
        )
    msgs = []
    for loc, msg in problems:
        ln = find_line(text, loc)
        msgs.append(f"{p}:{ln}: {key_path(loc)}: {msg}" if ln else f"{p}: {key_path(loc)}: {msg}")
    fleet = fl.model_copy(update={"inventory_csv": str(csv_path.resolve()), "n_packs": inv.n_packs})
    sc = sc.model_copy(update={"models": sc.models.model_copy(update={"fleet": fleet})})
    return msgs, sc


def _check_controller(p: Path, text: str, sc: Scenario) -> None:
    """The controller class must import and accept its parameters."""
    from twin.controller import load_controller_class

    line = find_line(text, ("controller", "class"))
    where = f"{p}:{line}" if line else str(p)
    try:
        cls = load_controller_class(sc.controller.class_path)
    except ModuleNotFoundError as exc:
        raise ScenarioError(
            f"{where}: controller.class = {sc.controller.class_path!r}: cannot import module "
            f"{exc.name!r} (is it on PYTHONPATH?)"
        ) from None
    except (ImportError, TypeError) as exc:
        raise ScenarioError(f"{where}: controller.class = {sc.controller.class_path!r}: {exc}") from None
    defaults = getattr(cls, "DEFAULTS", None)
    if isinstance(defaults, dict):
        for k in sc.controller.params:
            if k not in defaults:
                close = difflib.get_close_matches(k, list(defaults), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                pl = find_line(text, ("controller", "params", k))
                raise ScenarioError(
                    f"{p}:{pl or ''}: unknown key 'controller.params.{k}' for {cls.__name__}{hint} "
                    f"Allowed keys here: {', '.join(sorted(defaults))}".replace("::", ":")
                )
