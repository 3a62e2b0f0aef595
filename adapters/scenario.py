"""Read a scenario TOML file into a validated :class:`twin.config.Scenario`.

Every problem in the file is reported at once, each with the file, the line
(where it can be found), the key, the value received, what is allowed, and
a close match for a misspelled key or name. :class:`ScenarioError` carries
the message; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from adapters.inventory_csv import InventoryError, read_inventory_csv
from twin.config import EVENT_KINDS, JOB_KINDS, Scenario, cross_check
from twin.inventory import FleetInventory


_TAGS = set(EVENT_KINDS) | set(JOB_KINDS)


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message is for people."""


def _fields_at(loc: tuple[Any, ...], data: Any) -> list[str] | None:
    """Allowed keys of the table at ``loc`` (for suggestions), walking the schema."""
    model: Any = Scenario
    node = data
    ann: Any = None
    for part in loc:
        if isinstance(part, int):  # an item of an array of tables: its model may depend on its kind
            node = node[part] if isinstance(node, list) and part < len(node) else {}
            model = _inner_model(ann, node) if ann is not None else model
            if model is None:
                return None
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        f = model.model_fields.get(part) or next(
            (fi for fi in model.model_fields.values() if fi.alias == part), None)
        if f is None:
            return None
        node = node.get(part, {}) if isinstance(node, dict) else {}
        ann = f.annotation
        model = _inner_model(ann, node)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [fi.alias or n for n, fi in model.model_fields.items()]
    return None


def _inner_model(ann: Any, node: Any) -> Any:
    """The pydantic model inside an annotation (tuple[...], Annotated[Union[...]], X | None)."""
    args = typing.get_args(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    if typing.get_origin(ann) is typing.Annotated:
        return _inner_model(args[0], node)
    models = []
    stack = list(args)
    while stack:
        a = stack.pop(0)
        if isinstance(a, type) and issubclass(a, BaseModel):
            models.append(a)
        elif typing.get_origin(a) is typing.Annotated:
            stack.insert(0, typing.get_args(a)[0])
        else:
            stack.extend(typing.get_args(a))
    if len(models) == 1:
        return models[0]
    kind = node.get("kind") if isinstance(node, dict) else None
    for m in models:  # discriminated union of events: pick by kind
        f = m.model_fields.get("kind")
        if f is not None and kind in typing.get_args(f.annotation):
            return m
    return None


def _find_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of the key at ``loc`` in the TOML text."""
    lines = text.splitlines()
    keys = [p for p in loc if isinstance(p, str)]
    if not keys:
        return None
    # locate the table header that holds the last key
    section: list[str] = []
    want_index: int | None = None
    for p in loc[:-1]:
        if isinstance(p, int):
            want_index = p
        else:
            section.append(p)
    key = loc[-1] if isinstance(loc[-1], str) else None
    if key is None:  # the location is an item of an array of tables
        want_index = loc[-1]
    header_re = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?\s*(#.*)?$")
    current: list[str] = []
    count: dict[str, int] = {}
    candidates: list[int] = []
    for n, line in enumerate(lines, start=1):
        m = header_re.match(line)
        if m:
            current = [s.strip('"') for s in m.group(1).split(".")]
            if line.strip().startswith("[["):
                count[m.group(1)] = count.get(m.group(1), -1) + 1
            continue
        if key is None:
            continue
        km = re.match(r"^\s*([A-Za-z0-9_\-\"]+(?:\.[A-Za-z0-9_\-\"]+)*)\s*=", line)
        if not km:
            continue
        full = current + [s.strip('"') for s in km.group(1).split(".")]
        path = section + [key]
        if full[-len(path):] == path or full == path:
            if want_index is not None:
                arr = ".".join(current)
                if count.get(arr, -1) != want_index:
                    continue
            candidates.append(n)
    if candidates:
        return candidates[0]
    # the table itself (e.g. a missing key, or a whole event): its header line; for an item of an
    # array of tables, that item's header
    seen = -1
    for n, line in enumerate(lines, start=1):
        m = header_re.match(line)
        if m and [s.strip('"') for s in m.group(1).split(".")] == section:
            seen += 1
            if want_index is None or not line.strip().startswith("[[") or seen == want_index:
                return n
    return None


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def format_errors(path: Path, text: str, data: dict[str, Any], exc: ValidationError) -> str:
    msgs = []
    for err in exc.errors(include_url=False):
        # pydantic puts an event's or a job's kind (the union's tag) into the path: drop it
        loc = tuple(p for i, p in enumerate(err["loc"])
                    if not (i > 0 and isinstance(err["loc"][i - 1], int) and p in _TAGS))
        typ = err["type"]
        where = _where(loc)
        line = _find_line(text, loc)
        prefix = f"{path}:{line}" if line else f"{path}"
        received = err.get("input")
        if typ == "extra_forbidden":
            key = str(loc[-1])
            allowed = _fields_at(loc[:-1], data) or []
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ";"
            msgs.append(f"{prefix}: unknown key '{where}'{hint} Allowed keys here: {', '.join(sorted(allowed))}")
            continue
        if typ in ("union_tag_invalid", "union_tag_not_found"):
            kind = received.get("kind") if isinstance(received, dict) else received
            what, kinds = ("a job kind", JOB_KINDS) if "jobs" in loc else ("an event kind", EVENT_KINDS)
            close = difflib.get_close_matches(str(kind), kinds, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ";"
            msgs.append(f"{prefix}: {where}.kind = {kind!r} is not {what}{hint} Allowed: {', '.join(kinds)}")
            continue
        if typ == "missing":
            msgs.append(f"{prefix}: {where}: required key is missing")
            continue
        shown = received if not isinstance(received, (dict, list)) or len(repr(received)) < 80 else "..."
        if typ == "literal_error" and isinstance(received, str):
            allowed = re.findall(r"'([^']*)'", err["msg"])
            close = difflib.get_close_matches(received, allowed, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            msgs.append(f"{prefix}: {where} = {received!r}: {err['msg']}{hint}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if loc:
            msgs.append(f"{prefix}: {where} = {shown!r}: {msg}")
        else:
            msgs.append(f"{prefix}: {msg}")
    n = len(msgs)
    head = f"{path}: {n} problem{'s' if n != 1 else ''} in the scenario:\n" if n > 1 else ""
    return head + "\n".join(("  " if n > 1 else "") + m for m in msgs)


def load_scenario(path: str | Path) -> Scenario:
    """Parse and validate a scenario file; raise :class:`ScenarioError` with every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        near = difflib.get_close_matches(p.name, [q.name for q in p.parent.glob("*.toml")], n=1) if p.parent.is_dir() else []
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
        line = _find_line(text, loc)
        msgs.append(f"{p}:{line}: {_where(loc)}: {msg}" if line else f"{p}: {_where(loc)}: {msg}")
    if sc.models.fleet.inventory_csv:
        inv_msgs, sc = _check_inventory(p, text, sc)
        msgs += inv_msgs
    if msgs:
        n = len(msgs)
        raise ScenarioError(msgs[0] if n == 1 else f"{p}: {n} problems in the scenario:\n"
                            + "\n".join("  " + m.replace("\n", "\n  ") for m in msgs))
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
    line = _find_line(text, key)
    where = f"{p}:{line}" if line else str(p)
    csv_path = p.parent / rel
    try:
        inv = read_inventory_csv(csv_path, sc.site.bess.n_blocks, fl.thermal)
    except InventoryError as exc:
        return [f"{where}: models.fleet.inventory_csv = {rel!r}: {exc}"], sc

    problems: list[tuple[tuple[str | int, ...], str]] = []
    if "n_packs" in fl.model_fields_set and fl.n_packs != inv.n_packs:
        problems.append((("models", "fleet", "n_packs"),
                         (f"{fl.n_packs} but {rel} lists {inv.n_packs} packs; leave n_packs out when "
                          "inventory_csv is given (the inventory sets the number of packs)")))
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
            problems.append((("events", i, k),
                             (f"{ev.kind}: pack{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} "
                              f"not in the inventory {rel} (pack ids: {_id_list(ids)})")))
        veh = getattr(ev, "vehicle", None)
        if veh is not None and veh not in vehicles:
            ok = False
            close = difflib.get_close_matches(veh, vehicles, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ";"
            problems.append((("events", i, "vehicle"),
                             (f"{ev.kind}: vehicle {veh!r} is not in the inventory {rel}{hint} "
                              f"Allowed: {', '.join(vehicles)}")))
        row = getattr(ev, "yard_row", None)
        if row is not None and row not in rows:
            ok = False
            problems.append((("events", i, "yard_row"),
                             (f"{ev.kind}: no pack of the inventory {rel} stands in yard row {row} "
                              f"(rows: {_id_list(rows)})")))
        blk = getattr(ev, "block", None)
        if blk is not None and blk >= sc.site.bess.n_blocks:
            ok = False  # reported by cross_check
        if ok and k == "packs" and not len(inv.select(packs=tuple(packs), vehicle=veh, yard_row=row, block=blk)):
            given = [f"{n} = {v!r}" for n, v in (("packs", list(packs) or None), ("vehicle", veh),
                                                 ("yard_row", row), ("block", blk)) if v is not None]
            problems.append((("events", i, "kind"),
                             (f"{ev.kind}: selects no pack of the inventory {rel}: no pack matches "
                              f"{' and '.join(given)} together")))
    missing = [q for q in dict.fromkeys(sc.hil.packs) if q not in known_ids]
    if missing:
        problems.append((("hil", "packs"), (f"pack{'s' if len(missing) > 1 else ''} "
                                            f"{', '.join(map(str, missing))} not in the inventory {rel} "
                                            f"(pack ids: {_id_list(ids)})")))
    msgs = []
    for loc, msg in problems:
        ln = _find_line(text, loc)
        msgs.append(f"{p}:{ln}: {_where(loc)}: {msg}" if ln else f"{p}: {_where(loc)}: {msg}")
    fleet = fl.model_copy(update={"inventory_csv": str(csv_path.resolve()), "n_packs": inv.n_packs})
    sc = sc.model_copy(update={"models": sc.models.model_copy(update={"fleet": fleet})})
    return msgs, sc


def _check_controller(p: Path, text: str, sc: Scenario) -> None:
    """The controller class must import and accept its parameters."""
    from twin.controller import load_controller_class

    line = _find_line(text, ("controller", "class"))
    where = f"{p}:{line}" if line else str(p)
    try:
        cls = load_controller_class(sc.controller.class_path)
    except ModuleNotFoundError as exc:
        raise ScenarioError(f"{where}: controller.class = {sc.controller.class_path!r}: cannot import module "
                            f"{exc.name!r} (is it on PYTHONPATH?)") from None
    except (ImportError, TypeError) as exc:
        raise ScenarioError(f"{where}: controller.class = {sc.controller.class_path!r}: {exc}") from None
    defaults = getattr(cls, "DEFAULTS", None)
    if isinstance(defaults, dict):
        for k in sc.controller.params:
            if k not in defaults:
                close = difflib.get_close_matches(k, list(defaults), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                pl = _find_line(text, ("controller", "params", k))
                raise ScenarioError(f"{p}:{pl or ''}: unknown key 'controller.params.{k}' for {cls.__name__}{hint} "
                                    f"Allowed keys here: {', '.join(sorted(defaults))}".replace("::", ":"))
