"""Pack ageing: calendar and cycle capacity fade and resistance growth in the form of NREL's BLAST-Lite.

The equations are re-implemented from BLAST-Lite 1.1.1 (P. Gasper, N. Prakash,
K. Smith, NREL; https://github.com/NatLabRockies/BLAST-Lite, BSD-3-Clause;
the package pins numpy < 2 so it is not a dependency) as numpy over arrays of
packs. One BLAST-Lite model per chemistry of the fleet:

* **NMC** -- ``Nmc111_Gr_Kokam75Ah_Battery`` (``nmc111_gr_Kokam75Ah_2017.py``),
  a 75 Ah NMC-graphite pouch cell, the only large-format NMC model in
  BLAST-Lite with resistance growth. Data and model form: K. Smith et al.,
  "Life prediction model for grid-connected Li-ion battery energy storage
  system", American Control Conference 2017,
  https://ieeexplore.ieee.org/iel7/7951530/7962914/07963578.pdf.
  Capacity ``q = min(q_LLI, q_LAM)``: lithium inventory lost with time
  (``q1 t^q2``, ``q1 = q1_0 exp(q1_1/T_N) exp(q1_2 U_a,N/T_N)``) and with
  charge throughput (``q3 EFC^q4``, ``q3 = q3_0 exp(q3_1/T_N)
  exp(q3_2 exp(DoD^2))``), active material lost along a sigmoid in EFC
  (``1.01 - tanh((EFC/q5)^10 / 2)``, ``q5 = q5_0 + q5_1 (T_C - 55) DoD
  SoC_mean/0.6``); resistance ``r = max(1 + r1 q1 t^r2 + r3 q3 EFC^r4,
  r5 + r6/q_LAM)``; ``T_N = T/308.15 K``, ``U_a,N = U_a/0.123 V``.
* **LFP** -- ``Lfp_Gr_SonyMurata3Ah_Battery`` (``lfp_gr_SonyMurata3Ah_2018.py``),
  chosen over ``Lfp_Gr_250AhPrismatic`` because it models resistance growth,
  which the electrical model needs (the 250 Ah model has capacity only).
  Calendar data: M. Naumann et al., J. Energy Storage (2018),
  https://doi.org/10.1016/j.est.2018.01.019; cycle data: M. Naumann et al.,
  J. Power Sources (2020), https://doi.org/10.1016/j.jpowsour.2019.227666;
  capacity model identification: P. Gasper et al., J. Electrochem. Soc.
  (2022), https://doi.org/10.1149/1945-7111/ac86a8; resistance model after
  Naumann et al. (refitted in BLAST-Lite). Capacity
  ``q = 1 - qLoss_t - qLoss_EFC - qLoss_BreakIn`` with a sigmoid calendar
  loss ``q1 tanh((q2 t)^q3 / 2)`` (``q1``, ``q3`` Arrhenius-like in ``T``
  and ``U_a``), a power-law cycle loss ``(q5 EFC)^q6`` (``q5`` linear in
  DoD plus ``exp(DoD^2 C^3)``) and a break-in sigmoid active only above 3
  EFC per day; resistance ``r = 1 + k_T(T) k_SoC(SoC) t_s + k_C(C) k_DoD(DoD)
  EFC/100`` (linear in time and throughput).
* **LMO** -- ``Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery``
  (``lmo_gr_NissanLeaf66Ah_2ndLife_2020.py``), fitted to *second-life*
  Nissan Leaf half-modules: calendar data E. Braco et al., EEEIC/I&CPS
  Europe 2022, https://doi.org/10.1109/EEEIC/ICPSEUROPE54979.2022.9854784;
  cycle data E. Braco et al., J. Energy Storage (2020),
  https://doi.org/10.1016/j.est.2020.101695.
  Capacity relative to the start of second life ``q = 1 - k_cal t^0.464 -
  7.58e-5 EFC^1.08`` with ``k_cal = 3.25e8 exp(-7580/T) exp(162 SoC/T)``.
  BLAST-Lite has no resistance model for it; see *Second-life start* below.

``U_a`` is the graphite anode potential vs Li from SoC (M. Safari,
C. Delacourt, J. Electrochem. Soc. 158 (2011) A562,
https://doi.org/10.1149/1.3567007; lithiation range as in BLAST-Lite), ``t`` in
days, ``T`` in K, ``EFC`` equivalent full cycles of the model's reference
capacity, ``C`` the window-mean C-rate.

Stressors (BLAST-Lite ``_extract_stressors``/``update_rates``). Over an
update window a rate that depends on temperature and SoC is the *time
average* of the instantaneous rate; rates that depend on depth of discharge
use the window's DoD; ``dEFC = sum|dSoC| / 2 * q`` (SoC is relative to the
present capacity, so throughput is rescaled to the reference capacity);
the C-rate is ``sum|dSoC| / window hours * q`` counting only steps faster
than 0.01 /h. :class:`StressAccumulator` keeps, per pack and without
storing the series,

* time spent at SoC, deposited on a 41-node SoC grid (linear "tent"
  weights, which keep the time-mean SoC exact) together with the first two
  temperature moments at each node; a rate ``f(T, SoC)`` is then averaged
  as ``sum_j w_j E_j[f(T, SoC_j)]`` with a 3-point Gauss-Hermite rule in
  temperature (exact for a constant temperature; 0.6 % high for an
  Arrhenius rate of 60 kJ/mol under a +-10 degC daily sine);
* throughput ``sum|dSoC|`` (active packs only) and the part of it at more
  than 0.01 C;
* a half-cycle counter: SoC turning points with a hysteresis of
  ``HYSTERESIS_FRAC``; every half cycle's depth is deposited on a DoD grid
  weighted by its throughput, so the window's DoD-dependent rate is the
  throughput-weighted mean over its half cycles (BLAST-Lite uses max - min
  SoC of a window of about one cycle; for regular cycling the two agree).
  The throughput of a half cycle enters the window in which it ends (so
  its depth is known; cycle ageing lags by at most half a cycle), which
  keeps the result independent of where window boundaries fall.

State update (BLAST-Lite ``_update_power_state``, ``_update_power_B_state``,
``_update_sigmoid_state``). Each loss state follows a trajectory ``y(x)``
(``k x^p``, ``(k x)^p`` or ``y_inf tanh((k x)^p / 2)``) whose parameters
depend on the present stress; a window advances the state from its
*virtual* abscissa ``x_v = y^-1(y0)`` under the *current* rates, so a
state carries its history into new conditions. BLAST-Lite advances with
one explicit Euler step of the derivative at ``x_v``; here the default is
the exact step ``y(x_v + dx) - y0``, which makes the result independent of
the update interval at constant stress (the Euler step converges to it as
windows shrink; with BLAST-Lite's windows of about a day the two differ by
up to 0.2 % of capacity over a year -- LMO at 45 degC, 31 % loss -- and
mostly by less than 0.05 %, see ``tests/unit/twin/test_ageing.py``).
``FleetAgeing(..., euler=True)`` reproduces BLAST-Lite's Euler step.

Second-life start. A pack starts at capacity ``soh0`` (of nameplate) and
resistance factor ``r_factor0`` (of new).

* NMC and LFP models describe a cell from new, so their loss states are set
  so the model's capacity is ``soh0`` and its resistance ``r_factor0``. The
  split of the lost capacity ``1 - soh0`` between the time (calendar) and
  throughput (cycle) states, and of the resistance gain between its two
  states, is the model's own split after a representative EV first life
  (``FIRST_LIFE``: 8 years -- the usual traction-battery warranty -- at
  25 degC, mean SoC 0.6, 60 EFC a year at 0.5 DoD, i.e. about 15,000 km a
  year at 0.18 kWh/km on a 45 kWh pack). With it the NMC model puts 73 % of
  the capacity loss on the calendar state and 98 % of the resistance gain;
  the LFP model 98 % and 94 %. The split matters because, with BLAST-Lite's
  state equations, a state's size sets its virtual age and so its onward
  rate; taking it from the model's own first-life trajectory keeps both
  states on paths the model would have followed. How the pack continues
  (``FleetAgeing(second_life=...)``):

  - ``"scaled_history"`` (default): the pack is taken to have followed the
    model's trajectories scaled by ``sq = (1 - soh0) / loss_model`` (and
    ``sr = (r_factor0 - 1) / gain_model`` for resistance), the model's loss
    and gain after the representative first life; it keeps that scale (a
    per-pack "degradation scalar" applied to the trajectory: power-law
    ``k -> sq k``, sigmoid plateau ``y_inf -> sq y_inf``), so its states sit
    at the real first-life age (8 years) and a pack that aged faster than
    the model cell keeps ageing faster. The EV cells of the fleet aged
    several times faster than these laboratory cells (the NMC model loses
    only 3.6 % in the representative first life, the LFP model 10.6 %), so
    this is the default.
  - ``"virtual_age"``: unscaled model trajectories; each state's virtual
    age is whatever the model needs to reach it (the NMC calendar state at
    20 % loss is centuries old), so used packs then fade about ten times
    slower than new ones (about 0.2 % a year for NMC at 25 degC against
    2.4 % with ``"scaled_history"`` for the duty in ``tests/unit/twin/test_ageing.py``).
    The LFP calendar state, a sigmoid below its plateau ``q1``, is then
    capped at ``FIRST_LIFE_CAL_CAP`` of the first-life plateau and the rest
    put on cycle loss.

  The NMC active-material (knee) state starts where the first-life
  throughput (480 EFC) leaves it, far before its knee (second-life packs
  are screened to be before the knee). New packs (``soh0 = 1``) start
  exactly as BLAST-Lite's new cell in both modes.
* The LMO model was fitted to modules *at* the start of their second life
  (70 % of new on average), with its losses zero there; so its states start
  at zero for every pack and ``q_frac = soh0 * q_model``: the same relative
  fade from each pack's own start. For resistance (not modelled in
  BLAST-Lite) the pack is assumed to keep the ratio of resistance growth to
  capacity loss it showed over its first life, ``r_factor = r_factor0 +
  beta (soh0 - q_frac)``, ``beta = (r_factor0 - 1)/(1 - soh0)``
  (``LMO_R_PER_Q_LOSS`` when the pack has lost less than 2 %); a linear
  resistance-capacity relation across retired packs is reported e.g. by
  J. A. Drallmeier et al. (2022), https://arxiv.org/abs/2203.12376. This is
  an assumption, not a fitted model.

``q_frac`` never increases and never drops below ``Q_MIN_FRAC``;
``r_factor`` never decreases. The models' stated validity ranges
(BLAST-Lite docstrings) are narrower than a desert site: NMC cycling fit
at 0-45 degC and 80-100 % DoD, LFP cycling only at 25 and 45 degC (no
temperature dependence of cycle fade), LMO cycling only at 25 degC, 100 %
DoD, 1C (cycle fade depends on throughput only).
"""

from __future__ import annotations

from typing import cast

import numpy as np

from twin.config import CHEMISTRY_NAMES
from twin.fleet.blast import FIRST_LIFE, MODEL_CLASSES, MODELS, AgeingModel, NewCellModel, second_life_start
from twin.fleet.stress import (
    DOD_NODES_FRAC,
    N_DOD_NODES,
    N_SOC_NODES,
    SOC_NODES_FRAC,
    Aggregate,
    StressAccumulator,
    Window,
)

__all__ = [
    "CHEMISTRIES",
    "DOD_NODES_FRAC",
    "FIRST_LIFE",
    "LMO_R_PER_Q_LOSS",
    "MIN_WINDOW_S",
    "MODEL_CLASSES",
    "N_DOD_NODES",
    "N_SOC_NODES",
    "Q_MIN_FRAC",
    "SECOND_LIFE_MODES",
    "SOC_NODES_FRAC",
    "FleetAgeing",
    "StressAccumulator",
]

Q_MIN_FRAC = 0.05
MIN_WINDOW_S = 86400.0  # shorter update windows are pooled up to this (see FleetAgeing.update)
LMO_R_PER_Q_LOSS = 2.0  # LMO resistance growth per unit capacity lost, when the pack's own is undefined
CHEMISTRIES: tuple[str, ...] = CHEMISTRY_NAMES  # the chemistries with a model (all of twin.config's)
SECOND_LIFE_MODES: tuple[str, ...] = ("scaled_history", "virtual_age")


class FleetAgeing:
    """Capacity and resistance of every pack, advanced from :class:`StressAccumulator` windows.

    ``chemistry``: "NMC"/"LFP"/"LMO" per pack; ``soh0_frac``: capacity of
    nameplate at the start of second life; ``r_factor0``: resistance of new
    at the start. ``second_life``: how NMC/LFP packs continue from their
    first life, ``"scaled_history"`` (default) or ``"virtual_age"`` (see the
    module docstring); ``first_life`` overrides keys of ``FIRST_LIFE``
    (years, temp_c, soc_frac, efc_per_year, dod_frac), the representative
    first life that sets the split of the start losses and, in
    ``"scaled_history"``, the trajectory scales. ``degradation_scalar``
    (per pack or one value) scales every capacity-loss and resistance-gain
    trajectory (cell-to-cell spread; BLAST-Lite's scalar of the same name
    multiplies each Euler increment instead, which is the same only for the
    first step). ``euler=True`` advances states with BLAST-Lite's explicit
    Euler step instead of the exact step.

    Temperature sensitivity to know about (BLAST-Lite's state rule, both
    modes): a state advanced from its virtual age under a hotter rate ``k'``
    grows at ``(k'/k)^(1/p)`` times its old rate, ``1/p = 2.8`` for the NMC
    calendar state; a pack whose first life was at 25 degC (``FIRST_LIFE``)
    fades about 3 to 5 times faster at 35 degC than at 25 degC, a new pack
    about 2 times. Set ``first_life={"temp_c": ...}`` to the climate the
    packs came from. For the same reason the rates must be averaged over
    whole days: averaged over an hour, the hot afternoon hours are applied
    at their own rate to the power ``1/p`` and a used NMC pack at 30 +- 8
    degC fades about 3 times faster than with daily windows (BLAST-Lite's
    windows are a day or one EFC). :meth:`update` therefore pools windows
    shorter than ``min_window_s`` (default one day; 0 applies every window
    as it comes).
    """

    q_frac: np.ndarray  # capacity relative to nameplate now (starts at soh0)
    r_factor: np.ndarray  # resistance relative to new now (starts at r_factor0)

    def __init__(
        self,
        chemistry: np.ndarray,
        soh0_frac: np.ndarray,
        r_factor0: np.ndarray,
        degradation_scalar: np.ndarray | float = 1.0,
        euler: bool = False,
        second_life: str = "scaled_history",
        first_life: dict[str, float] | None = None,
        min_window_s: float = MIN_WINDOW_S,
    ) -> None:
        chem = np.asarray(chemistry).astype(str)
        n = chem.size
        self.n_packs = n
        self.chemistry = chem
        self.soh0_frac = np.broadcast_to(np.asarray(soh0_frac, float), (n,)).copy()
        self.r_factor0 = np.broadcast_to(np.asarray(r_factor0, float), (n,)).copy()
        self.scale = np.broadcast_to(np.asarray(degradation_scalar, float), (n,)).copy()
        self.euler = bool(euler)
        if second_life not in SECOND_LIFE_MODES:
            raise ValueError(f"ageing: second_life {second_life!r}; allowed: {', '.join(SECOND_LIFE_MODES)}")
        self.second_life = second_life
        unknown = sorted(set(first_life or {}) - set(FIRST_LIFE))
        if unknown:
            raise ValueError(f"ageing: first_life keys {unknown}; allowed: {', '.join(FIRST_LIFE)}")
        self.first_life = {**FIRST_LIFE, **(first_life or {})}
        bad = sorted(set(chem.tolist()) - set(CHEMISTRIES))
        if bad:
            raise ValueError(f"ageing: unknown chemistry {bad}; allowed: {', '.join(CHEMISTRIES)}")
        if np.any((self.soh0_frac <= 0.0) | (self.soh0_frac > 1.0)):
            raise ValueError("ageing: soh0_frac must be in (0, 1]")
        self.q_frac = self.soh0_frac.copy()
        self.r_factor = np.maximum(self.r_factor0, 1.0)
        self.min_window_s = float(min_window_s)
        self._pend = Aggregate(n)
        self.t_s = 0.0  # time aged since the start
        self.efc = np.zeros(n)  # equivalent full cycles of nameplate since the start
        self._groups: list[tuple[str, np.ndarray, AgeingModel, np.ndarray, np.ndarray, np.ndarray]] = []
        for name in CHEMISTRIES:
            idx = np.flatnonzero(chem == name)
            if idx.size == 0:
                continue
            model: AgeingModel = MODELS[name]()
            if name == "LMO":  # fitted from the start of second life: zero states, relative fade
                states, sq, sr = np.zeros((idx.size, 2)), np.ones(idx.size), np.ones(idx.size)
            else:
                states, sq, sr = second_life_start(
                    cast(NewCellModel, model), self.soh0_frac[idx], self.r_factor[idx], second_life, self.first_life
                )
            self._groups.append((name, idx, model, states, sq * self.scale[idx], sr * self.scale[idx]))
        loss = 1.0 - self.soh0_frac
        self._lmo_beta = np.where(loss >= 0.02, (self.r_factor - 1.0) / np.maximum(loss, 0.02), LMO_R_PER_Q_LOSS)

    def states(self, chemistry: str) -> dict[str, np.ndarray]:
        """Internal loss/gain states of one chemistry's packs (names as in BLAST-Lite), a copy."""
        for name, _idx, model, s, _sq, _sr in self._groups:
            if name == chemistry:
                return {k: s[:, j].copy() for j, k in enumerate(model.STATES)}
        return {}

    @property
    def pending_s(self) -> float:
        """Stress time taken from accumulators but not applied yet (less than ``min_window_s``)."""
        return self._pend.duration_s

    def update(self, acc: StressAccumulator, force: bool = False) -> None:
        """Advance ageing by the stress accumulated in acc (any window length: hours to a month), then acc.reset().

        Windows shorter than ``min_window_s`` are pooled and applied once the
        pool reaches it (or at once with ``force=True``, e.g. at the end of a
        run): BLAST-Lite averages its rates over windows of about a day, and
        averaging over less than a day with a daily temperature swing
        overstates fade (see the class docstring).
        """
        if acc.n_packs != self.n_packs:
            raise ValueError(f"ageing: accumulator has {acc.n_packs} packs, fleet {self.n_packs}")
        if acc.duration_s > 0.0:
            self._pend.take(acc)
        acc.reset()
        pend = self._pend
        if pend.duration_s <= 0.0 or (pend.duration_s < self.min_window_s * (1.0 - 1e-9) and not force):
            return
        dt_days = pend.duration_s / 86400.0
        self.efc += 0.5 * pend.thr * self.q_frac
        for name, idx, model, s, sq, sr in self._groups:
            soh0 = self.soh0_frac[idx]
            q_ref = self.q_frac[idx] / soh0 if name == "LMO" else self.q_frac[idx]
            w = Window(pend, idx, q_ref)
            r = model.rates(w)
            model.advance(s, r, dt_days, w.defc, sq, sr, self.euler)
            q_model, r_model = model.outputs(s)
            if name == "LMO":
                q_new = soh0 * q_model
                r_new = np.maximum(self.r_factor0[idx], 1.0) + self._lmo_beta[idx] * (soh0 - q_new)
            else:
                q_new, r_new = q_model, r_model
            self.q_frac[idx] = np.clip(q_new, Q_MIN_FRAC, self.q_frac[idx])
            self.r_factor[idx] = np.maximum(r_new, self.r_factor[idx])
        self.t_s += pend.duration_s
        pend.clear()

    def fade_by_chemistry(self) -> dict[str, dict[str, float]]:
        """Per chemistry: mean capacity at the start and now (of nameplate), mean fade, mean resistance growth."""
        out: dict[str, dict[str, float]] = {}
        for name, idx, *_ in self._groups:
            q0, q1 = self.soh0_frac[idx], self.q_frac[idx]
            r0 = np.maximum(self.r_factor0[idx], 1.0)
            out[name] = {
                "n_packs": float(idx.size),
                "q_start_mean_frac": float(q0.mean()),
                "q_now_mean_frac": float(q1.mean()),
                "fade_mean_frac": float((q0 - q1).mean()),
                "r_growth_mean_frac": float((self.r_factor[idx] / r0 - 1.0).mean()),
            }
        return out
