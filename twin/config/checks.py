"""Checks across the tables of a valid :class:`~twin.config.scenario.Scenario`.

:func:`cross_check` returns ``(key path, message)`` for every problem; the
scenario file reader adds file and line. :func:`check_hil_packs` is the one
check of the packs bound to a HIL line, used by :func:`cross_check`, by the
scenario file's inventory check and by ``twin hil --packs``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from twin.config.scenario import Scenario
from twin.validation import did_you_mean

if TYPE_CHECKING:
    from twin.fleet.inventory import FleetInventory

__all__ = ["Problem", "check_hil_packs", "cross_check", "id_list"]

Problem = tuple[tuple[str | int, ...], str]  # (key path, message)


def id_list(ids: Iterable[int]) -> str:
    """Ids for a message: ``0..804`` when contiguous, else ``N ids from LO to HI`` (``ids`` not empty)."""
    s = sorted(set(ids))
    lo, hi = s[0], s[-1]
    return f"{lo}..{hi}" if hi - lo + 1 == len(s) else f"{len(s)} ids from {lo} to {hi}"


def check_hil_packs(sc: Scenario, packs: Sequence[int], inventory: FleetInventory | None = None) -> list[str]:
    """Problems of ``packs`` as the packs bound to a HIL line of the fleet of ``sc``: [] when all exist.

    The fleet is ``inventory`` (read from ``models.fleet.inventory_csv``) if given, else the
    ``models.fleet.n_packs`` packs drawn from the mix (ids 0..n-1). Messages carry no location:
    the caller prefixes the file and key (``[hil] packs``) or the option (``--packs``).
    """
    known: Collection[int]
    if inventory is not None:
        known = set(inventory.pack_id.tolist())
        fleet = f"the inventory {sc.models.fleet.inventory_csv}"
    else:
        known = range(sc.models.fleet.n_packs)
        fleet = "the fleet"
    missing = [q for q in dict.fromkeys(packs) if q not in known]
    if not missing:
        return []
    s = "s" if len(missing) > 1 else ""
    return [f"pack{s} {', '.join(map(str, missing))} not in {fleet} (pack ids: {id_list(known)})"]


def cross_check(sc: Scenario) -> list[Problem]:
    """Checks across tables: ``(key path, message)`` for each problem found."""
    out: list[Problem] = []
    nb, npv, nsp = sc.site.bess.n_blocks, sc.site.pv.n_blocks, sc.site.spark.n_units
    npk = sc.models.fleet.n_packs
    step = sc.run.step_s
    if npk < nb:
        out.append((("models", "fleet", "n_packs"), f"{npk} packs cannot fill site.bess.n_blocks = {nb} blocks"))
    periods = [
        (("models", "ambient", "step_s"), sc.models.ambient.step_s),
        (("models", "pv", "step_s"), sc.models.pv.step_s),
        (("controller", "step_s"), sc.controller.step_s),
        (("run", "record_every_s"), sc.run.record_every_s),
    ]
    for loc, v in periods:
        if v is not None and (v < step - 1e-9 or abs(v / step - round(v / step)) > 1e-9):
            out.append((loc, f"{v:g} is not a whole multiple of run.step_s ({step:g} s)"))
    for i, ev in enumerate(sc.events):
        if ev.at_s > sc.run.duration_s:
            out.append((("events", i, "at_s"), f"{ev.at_s:g} is after the end of the run ({sc.run.duration_s:g} s)"))
        idx = getattr(ev, "block", None)
        if idx is not None:
            n = npv if "pv" in ev.kind else nb
            if idx >= n:
                out.append((("events", i, "block"), f"{ev.kind}: block {idx} does not exist (blocks are 0..{n - 1})"))
        unit = getattr(ev, "unit", None)
        if unit is not None and unit >= nsp:
            out.append((("events", i, "unit"), f"{ev.kind}: unit {unit} does not exist (units are 0..{nsp - 1})"))
        packs = getattr(ev, "packs", None) or ((ev.pack,) if hasattr(ev, "pack") else ())
        if packs and max(packs) >= npk and not sc.models.fleet.inventory_csv:
            key = "packs" if hasattr(ev, "packs") else "pack"
            out.append((("events", i, key), f"{ev.kind}: pack {max(packs)} does not exist (packs are 0..{npk - 1})"))
        veh = getattr(ev, "vehicle", None)
        names = [m.name for m in sc.models.fleet.mix]
        if veh is not None and not sc.models.fleet.inventory_csv and veh not in names:
            hint = did_you_mean(veh, names)
            out.append(
                (
                    ("events", i, "vehicle"),
                    f"{ev.kind}: vehicle {veh!r} is not in models.fleet.mix{hint} Allowed: {', '.join(names)}",
                )
            )
        row = getattr(ev, "yard_row", None)
        n_rows = -(-npk // sc.models.fleet.thermal.yard_row_packs)
        if row is not None and not sc.models.fleet.inventory_csv and row >= n_rows:
            out.append(
                (("events", i, "yard_row"), f"{ev.kind}: yard row {row} does not exist (rows are 0..{n_rows - 1})")
            )
    fs = sc.models.datacenter.fine_step_s
    if fs is not None and (fs > step + 1e-12 or abs(step / fs - round(step / fs)) > 1e-6):
        out.append(
            (
                ("models", "datacenter", "fine_step_s"),
                f"{fs:g} must divide run.step_s ({step:g} s) into a whole number of fine steps",
            )
        )
    dcm = sc.models.datacenter
    jobs = dcm.jobs if dcm.jobs is not None else ()
    on_unit: list[list[int]] = [[] for _ in range(nsp)]  # job indices per unit
    for i, j in enumerate(jobs):
        if j.units != "all" and j.units and max(j.units) >= nsp:
            out.append(
                (
                    ("models", "datacenter", "jobs", i, "units"),
                    f"unit {max(j.units)} does not exist (units are 0..{nsp - 1})",
                )
            )
        for u in range(nsp):
            if j.units == "all" or u in j.units:
                on_unit[u].append(i)
    for u, idx in enumerate(on_unit):
        fixed = sum(jobs[i].racks or 0 for i in idx)
        n_free = sum(jobs[i].racks is None for i in idx)
        if fixed + n_free > dcm.unit.racks:
            plus = f" plus one each for {n_free} without racks" if n_free else ""
            out.append(
                (
                    ("models", "datacenter", "jobs", idx[-1], "racks"),
                    f"unit {u}: its jobs need {fixed} racks{plus}, but a unit has {dcm.unit.racks} "
                    "(models.datacenter.unit.racks)",
                )
            )
            break
    for i, ev in enumerate(sc.events):
        if ev.kind not in ("job_start", "job_stop", "job_crash"):
            continue
        units = range(nsp) if ev.unit is None else ([ev.unit] if ev.unit < nsp else [])
        if dcm.jobs is None:  # the default: one unnamed training job per unit (index 0)
            job_names: list[str] = []
            counts = [1] * nsp
        else:
            job_names = sorted({jobs[k].name for u in units for k in on_unit[u] if jobs[k].name})
            counts = [len(on_unit[u]) for u in range(nsp)]
        if isinstance(ev.job, str):
            if ev.job not in job_names:
                hint = did_you_mean(ev.job, job_names)
                out.append(
                    (
                        ("events", i, "job"),
                        f"{ev.kind}: no job named {ev.job!r} runs on "
                        f"{'any unit' if ev.unit is None else f'unit {ev.unit}'}{hint} Named jobs: "
                        f"{', '.join(job_names) or 'none (give the index of the job in the unit list)'}",
                    )
                )
        elif units and ev.job >= (n_jobs := min(counts[u] for u in units)):
            out.append(
                (
                    ("events", i, "job"),
                    f"{ev.kind}: job index {ev.job} does not exist on "
                    f"{'every unit' if ev.unit is None else f'unit {ev.unit}'} (indices 0..{n_jobs - 1})",
                )
            )
    rp = sc.models.fleet.record_packs_every_s
    if rp and (rp < step - 1e-9 or abs(rp / step - round(rp / step)) > 1e-9):
        out.append(
            (("models", "fleet", "record_packs_every_s"), f"{rp:g} is not a whole multiple of run.step_s ({step:g} s)")
        )
    if not sc.models.fleet.inventory_csv:  # an inventory's packs are checked when it is read
        out += [(("hil", "packs"), msg) for msg in check_hil_packs(sc, sc.hil.packs)]
    return out
