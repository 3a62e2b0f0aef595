"""Read a scenario TOML file into a validated :class:`twin.config.Scenario`.

Every problem in the file is reported at once, each with the file, the line
(where it can be found), the key, the value received, what is allowed, and
a close match for a misspelled key or name.
:class:`twin.errors.ScenarioFileError` carries the message; the CLI prints it
and exits with status 2.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.io.inventory_csv import read_inventory_csv
from twin.config import Scenario, check_hil_packs, cross_check, id_list
from twin.errors import InputError, InventoryError, ScenarioFileError
from twin.fleet.inventory import FleetInventory
from twin.validation import close_match, find_line, format_problems, format_validation_error, key_path

__all__ = ["check_hil_packs", "format_errors", "load_inventory", "load_scenario", "read_toml"]

Loc = tuple[str | int, ...]


def format_errors(path: Path, text: str, data: dict[str, Any], exc: ValidationError) -> str:
    """Every validation problem of a scenario file, with its line: one message, or a list under a header."""
    return format_problems(
        str(path), format_validation_error(exc, model=Scenario, source=str(path), text=text, data=data)
    )


def _at(p: Path, text: str, loc: Loc, msg: str) -> str:
    """``file:line: key.path: msg`` (without the line where it cannot be found)."""
    line = find_line(text, loc)
    return f"{p}:{line}: {key_path(loc)}: {msg}" if line else f"{p}: {key_path(loc)}: {msg}"


def read_toml(p: Path, what: str, error: type[InputError]) -> tuple[str, dict[str, Any]]:
    """The text and the parsed tables of a TOML input file (``what``: "scenario", "mapping"); ``error`` with the
    file, a close match of a missing file's name, or the TOML parser's message."""
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        near = close_match(p.name, [q.name for q in p.parent.glob("*.toml")]) if p.parent.is_dir() else None
        hint = f"; did you mean '{p.parent / near}'?" if near else ""
        raise error(f"{p}: no such {what} file{hint}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{p}: cannot read the {what} file: {exc}") from exc
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{p}: not valid TOML: {exc}") from exc


def load_scenario(path: str | Path) -> Scenario:
    """Parse and validate a scenario file; raise :class:`ScenarioFileError` with every problem."""
    p = Path(path)
    text, data = read_toml(p, "scenario", ScenarioFileError)
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioFileError(format_errors(p, text, data, exc)) from exc
    msgs = [_at(p, text, loc, msg) for loc, msg in cross_check(sc)]
    if sc.models.fleet.inventory_csv:
        inv_msgs, sc = _check_inventory(p, text, sc)
        msgs += inv_msgs
    if sc.recorded.mapping:
        mp = p.parent / sc.recorded.mapping
        if not mp.is_file():
            msgs.append(_at(p, text, ("recorded", "mapping"), f"{sc.recorded.mapping!r}: no such mapping file"))
        else:
            sc = sc.model_copy(update={"recorded": sc.recorded.model_copy(update={"mapping": str(mp.resolve())})})
    if msgs:
        raise ScenarioFileError(format_problems(str(p), msgs))
    if sc.recorded.mapping:
        from adapters.io.telemetry.mapping_file import load_mapping

        load_mapping(sc.recorded.mapping, sc.site)  # the mapping's own problems, with its lines (TelemetryError)
    if not sc.name:
        sc = sc.model_copy(update={"name": p.stem})
    _check_controller(p, text, sc)
    return sc


def load_inventory(sc: Scenario) -> FleetInventory | None:
    """The pack list named by ``models.fleet.inventory_csv``; None when the fleet is drawn from the mix.

    :func:`load_scenario` has already checked the file and made its path
    absolute; a relative path (a scenario built in code) is taken from the
    working directory. Raises :class:`ScenarioFileError` if the file cannot be used.
    """
    rel = sc.models.fleet.inventory_csv
    if not rel:
        return None
    try:
        return read_inventory_csv(Path(rel), sc.site.bess.n_blocks, sc.models.fleet.thermal)
    except InventoryError as exc:
        raise ScenarioFileError(f"models.fleet.inventory_csv = {rel!r}: {exc}") from exc


def _pack_problems(sc: Scenario, inv: FleetInventory, rel: str) -> list[tuple[Loc, str]]:
    """The events' pack selectors checked against the packs of an inventory."""
    problems: list[tuple[Loc, str]] = []
    ids = sorted(inv.pack_id.tolist())
    known_ids = set(ids)
    vehicles = sorted(set(inv.vehicle.tolist()))
    rows = sorted(set(inv.yard_row.tolist()))
    for i, ev in enumerate(sc.events):
        packs: Sequence[int] = getattr(ev, "packs", None) or ((ev.pack,) if hasattr(ev, "pack") else ())
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
                        f"not in the inventory {rel} (pack ids: {id_list(ids)})"
                    ),
                )
            )
        veh = getattr(ev, "vehicle", None)
        if veh is not None and veh not in vehicles:
            ok = False
            near = close_match(veh, vehicles)
            hint = f"; did you mean '{near}'?" if near else ";"
            problems.append(
                (
                    ("events", i, "vehicle"),
                    f"{ev.kind}: vehicle {veh!r} is not in the inventory {rel}{hint} Allowed: {', '.join(vehicles)}",
                )
            )
        row = getattr(ev, "yard_row", None)
        if row is not None and row not in rows:
            ok = False
            problems.append(
                (
                    ("events", i, "yard_row"),
                    f"{ev.kind}: no pack of the inventory {rel} stands in yard row {row} (rows: {id_list(rows)})",
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
                    f"{ev.kind}: selects no pack of the inventory {rel}: "
                    f"no pack matches {' and '.join(given)} together",
                )
            )
    return problems


def _check_inventory(p: Path, text: str, sc: Scenario) -> tuple[list[str], Scenario]:
    """Read the scenario's inventory CSV and check the events' pack selectors and ``[hil] packs`` against it.

    Returns the problems (messages with file and line) and the scenario with the
    CSV's absolute path and its pack count filled in (so that the results'
    ``scenario.toml`` names the file wherever it is read from).
    """
    fl = sc.models.fleet
    rel = fl.inventory_csv
    assert rel
    csv_path = p.parent / rel
    try:
        inv = read_inventory_csv(csv_path, sc.site.bess.n_blocks, fl.thermal)
    except InventoryError as exc:
        line = find_line(text, ("models", "fleet", "inventory_csv"))
        where = f"{p}:{line}" if line else str(p)
        return [f"{where}: models.fleet.inventory_csv = {rel!r}: {exc}"], sc

    problems: list[tuple[Loc, str]] = []
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
    problems += _pack_problems(sc, inv, rel)
    problems += [(("hil", "packs"), msg) for msg in check_hil_packs(sc, sc.hil.packs, inv)]
    msgs = [_at(p, text, loc, msg) for loc, msg in problems]
    fleet = fl.model_copy(update={"inventory_csv": str(csv_path.resolve()), "n_packs": inv.n_packs})
    sc = sc.model_copy(update={"models": sc.models.model_copy(update={"fleet": fleet})})
    return msgs, sc


def _check_controller(p: Path, text: str, sc: Scenario) -> None:
    """The controller class must import and accept its parameters (:func:`twin.controller.unknown_params`)."""
    from twin.controller import load_controller_class, unknown_params

    line = find_line(text, ("controller", "class"))
    where = f"{p}:{line}" if line else str(p)
    try:
        cls = load_controller_class(sc.controller.class_path)
    except ModuleNotFoundError as exc:
        raise ScenarioFileError(
            f"{where}: controller.class = {sc.controller.class_path!r}: cannot import module "
            f"{exc.name!r} (is it on PYTHONPATH?)"
        ) from exc
    except (ImportError, TypeError) as exc:
        raise ScenarioFileError(f"{where}: controller.class = {sc.controller.class_path!r}: {exc}") from exc
    msgs = []
    for k, msg in unknown_params(cls, sc.controller.params).items():
        pl = find_line(text, ("controller", "params", k))
        msgs.append(f"{p}:{pl}: {msg}" if pl else f"{p}: {msg}")
    if msgs:
        raise ScenarioFileError(format_problems(str(p), msgs))
