"""NREL BLAST-Lite's three ageing models re-implemented as numpy over arrays of packs, and their state rules.

One model per chemistry (:data:`MODEL_CLASSES`), each with its rates from a
window's stressors (:class:`twin.fleet.stress.Window`), its state update
(exact or BLAST-Lite's Euler step) and its outputs (capacity, resistance);
the start of second life from a representative first life. Sources, model
forms and the second-life assumptions: :mod:`twin.fleet.ageing`'s docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from twin.fleet.stress import DOD_NODES_FRAC, KELVIN, SOC_NODES_FRAC, Window

ArrayOrFloat = np.ndarray | float  # the rules take arrays of packs or one value for all

__all__ = [
    "FIRST_LIFE",
    "FIRST_LIFE_CAL_CAP",
    "MODEL_CLASSES",
    "MODELS",
    "AgeingModel",
    "NewCellModel",
    "anode_potential_v",
    "second_life_start",
]

FIRST_LIFE = {"years": 8.0, "temp_c": 25.0, "soc_frac": 0.6, "efc_per_year": 60.0, "dod_frac": 0.5}
FIRST_LIFE_CAL_CAP = 0.9  # LFP: calendar state at most this share of its plateau q1 at first-life stress


def anode_potential_v(soc_frac: np.ndarray) -> np.ndarray:
    """Graphite potential vs Li (V) from SoC: Safari & Delacourt (2011), lithiation as in BLAST-Lite."""
    xa = 8.5e-3 + np.asarray(soc_frac, dtype=float) * (0.78 - 8.5e-3)
    return (
        0.6379
        + 0.5416 * np.exp(-305.5309 * xa)
        + 0.044 * np.tanh(-(xa - 0.1958) / 0.1088)
        - 0.1978 * np.tanh((xa - 1.0571) / 0.0854)
        - 0.6875 * np.tanh((xa + 0.0117) / 0.0529)
        - 0.0175 * np.tanh((xa - 0.5692) / 0.0875)
    )


_UA_NODES_V = anode_potential_v(SOC_NODES_FRAC)

# ----------------------------------------------------------------------------- state-update rules


def _adv_power(y0: ArrayOrFloat, dx: ArrayOrFloat, k: ArrayOrFloat, p: float, euler: bool) -> np.ndarray:
    """Increment of a state on y = k x^p over dx from its present value (BLAST-Lite ``_update_power_state``)."""
    y0, dx, k = np.broadcast_arrays(np.asarray(y0, float), np.asarray(dx, float), np.asarray(k, float))
    dy = np.zeros(y0.shape)
    go = (dx > 0.0) & (k > 0.0)
    new = go & (y0 <= 0.0)
    dy[new] = k[new] * dx[new] ** p
    old = go & (y0 > 0.0)
    if old.any():
        y, d, kk = y0[old], dx[old], k[old]
        with np.errstate(over="ignore"):  # a vanishing rate: x_v -> inf, increment -> 0
            xv = (y / kk) ** (1.0 / p)
            if euler:
                dy[old] = kk * p * (y / kk) ** ((p - 1.0) / p) * d
            else:
                dy[old] = y * np.expm1(p * np.log1p(d / xv))
    return np.maximum(dy, 0.0)


def _adv_power_b(y0: ArrayOrFloat, dx: ArrayOrFloat, k: ArrayOrFloat, p: float, euler: bool) -> np.ndarray:
    """Increment of a state on y = (k x)^p (BLAST-Lite ``_update_power_B_state``)."""
    y0, dx, k = np.broadcast_arrays(np.asarray(y0, float), np.asarray(dx, float), np.asarray(k, float))
    dy = np.zeros(y0.shape)
    go = (dx > 0.0) & (k > 0.0)
    new = go & (y0 <= 0.0)
    dy[new] = (k[new] * dx[new]) ** p
    old = go & (y0 > 0.0)
    if old.any():
        y, d, kk = y0[old], dx[old], k[old]
        with np.errstate(over="ignore"):  # a vanishing rate: x_v -> inf, increment -> 0
            xv = y ** (1.0 / p) / kk
            if euler:
                dy[old] = p * y / xv * d
            else:
                dy[old] = y * np.expm1(p * np.log1p(d / xv))
    return np.maximum(dy, 0.0)


def _adv_sigmoid(
    y0: ArrayOrFloat, dx: ArrayOrFloat, y_inf: ArrayOrFloat, k: ArrayOrFloat, p: ArrayOrFloat, euler: bool
) -> np.ndarray:
    """Increment of a state on y = 2 y_inf (1/2 - 1/(1 + exp((k x)^p))) = y_inf tanh((k x)^p / 2)
    (BLAST-Lite ``_update_sigmoid_state``). A state at or above its plateau y_inf does not move (BLAST-Lite
    returns NaN there)."""
    y0, dx, y_inf, k, p = np.broadcast_arrays(*(np.asarray(a, float) for a in (y0, dx, y_inf, k, p)))
    dy = np.zeros(y0.shape)
    go = (dx > 0.0) & (k > 0.0) & (y_inf > 0.0) & (p > 0.0)
    new = go & (y0 <= 0.0)
    old = go & (y0 > 0.0) & (y0 < y_inf)
    with np.errstate(over="ignore"):  # (k x)^p -> inf saturates tanh; x_v -> inf gives no increment
        dy[new] = y_inf[new] * np.tanh(0.5 * (k[new] * dx[new]) ** p[new])
        if old.any():
            y, d, yi, kk, pp = y0[old], dx[old], y_inf[old], k[old], p[old]
            u = y / yi
            z0 = np.log1p(u) - np.log1p(-u)  # = (k x_v)^p
            xv = z0 ** (1.0 / pp) / kk
            if euler:
                ez = np.exp(-z0)  # e^z/(e^z+1)^2 = e^-z/(1+e^-z)^2
                dy[old] = 2.0 * yi * pp * z0 * ez / (xv * (1.0 + ez) ** 2) * d
            else:
                dy[old] = yi * np.tanh(0.5 * (kk * (xv + d)) ** pp) - y
    return np.maximum(np.nan_to_num(dy, nan=0.0), 0.0)


def _sigmoid_y(x: ArrayOrFloat, y_inf: ArrayOrFloat, k: ArrayOrFloat, p: ArrayOrFloat) -> np.ndarray:
    return y_inf * np.tanh(0.5 * (k * np.asarray(x, float)) ** p)


# ----------------------------------------------------------------------------- the three models


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x, float) / math.sqrt(2.0)))


def _skewnormpdf(x: ArrayOrFloat, skew: float, width: float) -> np.ndarray:
    xp = (np.asarray(x, float) - 0.5) / width
    return 2.0 * _norm_pdf(xp) * _norm_cdf(skew * xp)


class _Stress:
    """Constant stress (for the first-life history): duck-types Window."""

    def __init__(self, n: int, temp_c: float, soc_frac: float, dod_frac: float, crate: float) -> None:
        self.mu_k = np.full((n, 1), temp_c + KELVIN)
        self.temp_mean_k = np.full(n, temp_c + KELVIN)
        self.soc_mean = np.full(n, soc_frac)
        self.dod_mean = np.full(n, dod_frac)
        self.crate = np.full(n, crate)
        self.soc = soc_frac
        self.dod = dod_frac
        self.ua = float(anode_potential_v(np.array([soc_frac]))[0])

    def time_avg(self, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        return f(self.mu_k)[:, 0]


class _Kokam:
    """NMC: BLAST-Lite ``Nmc111_Gr_Kokam75Ah_Battery`` (Smith et al., ACC 2017)."""

    P: ClassVar[dict[str, float]] = {
        "q1_0": 2.66e7,
        "q1_1": -17.8,
        "q1_2": -5.21,
        "q2": 0.357,
        "q3_0": 3.80e3,
        "q3_1": -18.4,
        "q3_2": 1.04,
        "q4": 0.778,
        "q5_0": 1e4,
        "q5_1": 153.0,
        "p_LAM": 10.0,
        "r1": 0.0570,
        "r2": 1.25,
        "r3": 4.87,
        "r4": 0.712,
        "r5": -0.08,
        "r6": 1.09,
    }
    STATES = ("qLoss_LLI_t", "qLoss_LLI_EFC", "qLoss_LAM", "rGain_LLI_t", "rGain_LLI_EFC")
    INIT = (0.0, 0.0, 1e-8, 0.0, 0.0)
    Q_IDX: ClassVar[list[int]] = [0, 1]  # time and throughput capacity-loss states
    R_IDX: ClassVar[list[int]] = [3, 4]  # time and throughput resistance-gain states
    Q5_MIN = 100.0  # the linear q5 can reach <= 0 far outside the data (cold, deep, high SoC); kept positive

    def rates(self, w: Window | _Stress) -> dict[str, np.ndarray]:
        p = self.P
        if isinstance(w, _Stress):
            ua = np.full((1,), w.ua)
            h_dod = np.exp(p["q3_2"] * np.exp(w.dod**2))
        else:
            ua = _UA_NODES_V
            h_dod = w.dod_avg(np.exp(p["q3_2"] * np.exp(DOD_NODES_FRAC**2)))
        uan = ua / 0.123
        q1 = w.time_avg(lambda tk: p["q1_0"] * np.exp(p["q1_1"] * 308.15 / tk) * np.exp(p["q1_2"] * uan * 308.15 / tk))
        q3 = w.time_avg(lambda tk: p["q3_0"] * np.exp(p["q3_1"] * 308.15 / tk)) * h_dod
        q5 = p["q5_0"] + p["q5_1"] * (w.temp_mean_k - KELVIN - 55.0) * w.dod_mean * (w.soc_mean / 0.6)
        return {"q1": q1, "q3": q3, "q5": np.maximum(q5, self.Q5_MIN)}

    def advance(
        self,
        s: np.ndarray,
        r: dict[str, np.ndarray],
        dt_days: float,
        defc: np.ndarray,
        sq: np.ndarray,
        sr: np.ndarray,
        euler: bool,
    ) -> None:
        """Advance the states in place; sq, sr scale the capacity-loss and resistance-gain trajectories."""
        p = self.P
        s[:, 0] += _adv_power(s[:, 0], dt_days, sq * r["q1"], p["q2"], euler)
        s[:, 1] += _adv_power(s[:, 1], defc, sq * r["q3"], p["q4"], euler)
        s[:, 2] += _adv_sigmoid(s[:, 2], defc, 1.0, 1.0 / r["q5"], p["p_LAM"], euler)
        s[:, 3] += _adv_power(s[:, 3], dt_days, sr * p["r1"] * r["q1"], p["r2"], euler)
        s[:, 4] += _adv_power(s[:, 4], defc, sr * p["r3"] * r["q3"], p["r4"], euler)

    def outputs(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.P
        q_lli = 1.0 - s[:, 0] - s[:, 1]
        q_lam = 1.01 - s[:, 2]
        r_lli = 1.0 + s[:, 3] + s[:, 4]
        r_lam = p["r5"] + p["r6"] / np.maximum(q_lam, 1e-6)
        return np.minimum(q_lli, q_lam), np.maximum(r_lli, r_lam)

    def first_life(self, n: int, fl: dict[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """States after the representative first life ``fl`` from new (exact trajectories), and its rates."""
        t, efc, st = _first_life(n, fl)
        r = self.rates(st)
        p = self.P
        s = np.zeros((n, 5))
        s[:, 0] = r["q1"] * t ** p["q2"]
        s[:, 1] = r["q3"] * efc ** p["q4"]
        s[:, 2] = self.INIT[2] + _adv_sigmoid(self.INIT[2], efc, 1.0, 1.0 / r["q5"], p["p_LAM"], False)
        s[:, 3] = p["r1"] * r["q1"] * t ** p["r2"]
        s[:, 4] = p["r3"] * r["q3"] * efc ** p["r4"]
        return s, r


class _SonyMurata:
    """LFP: BLAST-Lite ``Lfp_Gr_SonyMurata3Ah_Battery`` (Naumann et al. 2018, 2020; Gasper et al. 2022)."""

    P: ClassVar[dict[str, float]] = {
        "q2": 0.000130510034211874,
        "q1_b0": 0.989687151293590,
        "q1_b1": -2881067.56019324,
        "q1_b2": 8742.06309157261,
        "q3_b0": 0.000332850281062177,
        "q3_b1": 734553185711.369,
        "q3_b2": -2.82161575620780e-06,
        "q3_b3": -3284991315.45121,
        "q3_b4": 0.00127227593657290,
        "q8": 0.00303553871631028,
        "q9": 1.43752162947637,
        "q7_b0": 0.582258029148225,
        "q7_soc_skew": 0.0583128906965484,
        "q7_soc_width": 0.208738181522897,
        "q7_dod_skew": -3.80744333129564,
        "q7_dod_width": 1.16126260428210,
        "q7_dod_growth": 25.4130804598602,
        "q6": 1.12847759334355,
        "q5_b0": -6.81260579372875e-06,
        "q5_b1": 2.59615973160844e-05,
        "q5_b2": 2.11559710307295e-06,
        "k_ref_r_cal": 3.4194e-10,
        "Ea_r_cal": 71827.0,
        "C_r_cal": -3.3903,
        "D_r_cal": 1.5604,
        "A_r_cyc": -0.002,
        "B_r_cyc": 0.0021,
        "C_r_cyc": 6.8477,
        "D_r_cyc": 0.91882,
    }
    STATES = ("qLoss_LLI_t", "qLoss_LLI_EFC", "qLoss_BreakIn_EFC", "rGain_LLI_t", "rGain_LLI_EFC")
    INIT = (0.0, 0.0, 1e-10, 0.0, 0.0)
    Q_IDX: ClassVar[list[int]] = [0, 1]  # time and throughput capacity-loss states
    R_IDX: ClassVar[list[int]] = [3, 4]  # time and throughput resistance-gain states
    R_GAS = 8.3144  # as in BLAST-Lite

    def __init__(self) -> None:
        p = self.P
        self.skew_soc_nodes = _skewnormpdf(SOC_NODES_FRAC, p["q7_soc_skew"], p["q7_soc_width"])
        self.ksoc_r_nodes = p["C_r_cal"] * (SOC_NODES_FRAC - 0.5) ** 3 + p["D_r_cal"]
        d = DOD_NODES_FRAC
        self.q7_dod_nodes = (
            _skewnormpdf(d, p["q7_dod_skew"], p["q7_dod_width"])
            * 2.0
            * (0.5 - 1.0 / (1.0 + np.exp(p["q7_dod_growth"] * d)))
        )
        self.kdod_r_nodes = p["C_r_cyc"] * (d - 0.5) ** 3 + p["D_r_cyc"]

    def rates(self, w: Window | _Stress) -> dict[str, np.ndarray]:
        p = self.P
        if isinstance(w, _Stress):
            ua = np.full((1,), w.ua)
            skew_soc = np.full((1,), _skewnormpdf(w.soc, p["q7_soc_skew"], p["q7_soc_width"]))
            ksoc_r = np.full((1,), p["C_r_cal"] * (w.soc - 0.5) ** 3 + p["D_r_cal"])
            d = np.array([w.dod])
            q5 = np.abs(p["q5_b0"] + p["q5_b1"] * d + p["q5_b2"] * np.exp(d**2 * w.crate**3))
            q7_dod = (
                _skewnormpdf(d, p["q7_dod_skew"], p["q7_dod_width"])
                * 2.0
                * (0.5 - 1.0 / (1.0 + np.exp(p["q7_dod_growth"] * d)))
            )
            kdod_r = p["C_r_cyc"] * (d - 0.5) ** 3 + p["D_r_cyc"]
        else:
            ua, skew_soc, ksoc_r = _UA_NODES_V, self.skew_soc_nodes, self.ksoc_r_nodes
            d = DOD_NODES_FRAC[None, :]
            q5_nodes = np.abs(p["q5_b0"] + p["q5_b1"] * d + p["q5_b2"] * np.exp(d**2 * w.crate[:, None] ** 3))
            q5 = w.dod_avg(q5_nodes)
            q7_dod = w.dod_avg(self.q7_dod_nodes)
            kdod_r = w.dod_avg(self.kdod_r_nodes)
        sua = np.sqrt(ua)
        q1 = w.time_avg(
            lambda tk: np.abs(p["q1_b0"] * np.exp(p["q1_b1"] / tk**2 * sua) * np.exp(p["q1_b2"] / tk * sua))
        )
        cua, qua = ua ** (1.0 / 3.0), ua**0.25
        q3 = w.time_avg(
            lambda tk: np.abs(
                p["q3_b0"]
                * np.exp(p["q3_b1"] / tk**4 * cua)
                * np.exp(p["q3_b2"] * tk**3 * qua)
                * np.exp(p["q3_b3"] / tk**3 * cua)
                * np.exp(p["q3_b4"] * tk**2 * qua)
            )
        )
        q7 = np.abs(p["q7_b0"] * w.time_avg(lambda tk: skew_soc + 0.0 * tk) * q7_dod)
        k_temp_r = w.time_avg(
            lambda tk: p["k_ref_r_cal"] * np.exp(-p["Ea_r_cal"] / self.R_GAS * (1.0 / tk - 1.0 / 298.15))
        )
        k_soc_r = w.time_avg(lambda tk: ksoc_r + 0.0 * tk)
        r_kcyc = (p["A_r_cyc"] * w.crate + p["B_r_cyc"]) * kdod_r
        return {"q1": q1, "q3": q3, "q5": q5, "q7": q7, "r_kcal": k_temp_r * k_soc_r, "r_kcyc": r_kcyc}

    def advance(
        self,
        s: np.ndarray,
        r: dict[str, np.ndarray],
        dt_days: float,
        defc: np.ndarray,
        sq: np.ndarray,
        sr: np.ndarray,
        euler: bool,
    ) -> None:
        """Advance the states in place; sq, sr scale the capacity-loss and resistance-gain trajectories."""
        p = self.P
        breakin = defc / max(dt_days, 1e-300) > 3.0  # BLAST-Lite: break-in only above 3 EFC per day
        s[:, 0] += _adv_sigmoid(s[:, 0], dt_days, sq * r["q1"], p["q2"], r["q3"], euler)
        s[:, 1] += _adv_power_b(s[:, 1], defc, sq ** (1.0 / p["q6"]) * r["q5"], p["q6"], euler)
        s[:, 2] += np.where(breakin, _adv_sigmoid(s[:, 2], defc, r["q7"], p["q8"], p["q9"], euler), 0.0)
        s[:, 3] += sr * r["r_kcal"] * dt_days * 86400.0
        s[:, 4] += sr * r["r_kcyc"] * defc / 100.0

    def outputs(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 1.0 - s[:, 0] - s[:, 1] - s[:, 2], 1.0 + s[:, 3] + s[:, 4]

    def first_life(self, n: int, fl: dict[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """States after the representative first life ``fl`` from new (exact trajectories), and its rates."""
        t, efc, st = _first_life(n, fl)
        r = self.rates(st)
        p = self.P
        s = np.zeros((n, 5))
        s[:, 0] = _sigmoid_y(t, r["q1"], p["q2"], r["q3"])
        s[:, 1] = (r["q5"] * efc) ** p["q6"]
        s[:, 2] = self.INIT[2]  # break-in needs > 3 EFC per day
        s[:, 3] = r["r_kcal"] * t * 86400.0
        s[:, 4] = r["r_kcyc"] * efc / 100.0
        return s, r


class _NissanLeaf:
    """LMO: BLAST-Lite ``Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery`` (Braco et al. 2020, 2022); q is relative to
    the start of second life."""

    P: ClassVar[dict[str, float]] = {
        "qcal_A": 3.25e8,
        "qcal_B": -7.58e3,
        "qcal_C": 162.0,
        "qcal_p": 0.464,
        "qcyc_A": 7.58e-5,
        "qcyc_p": 1.08,
    }
    STATES = ("qLoss_t", "qLoss_EFC")
    INIT = (0.0, 0.0)

    def rates(self, w: Window | _Stress) -> dict[str, np.ndarray]:
        p = self.P
        soc = np.full((1,), w.soc) if isinstance(w, _Stress) else SOC_NODES_FRAC
        k_cal = w.time_avg(lambda tk: p["qcal_A"] * np.exp(p["qcal_B"] / tk) * np.exp(p["qcal_C"] * soc / tk))
        return {"k_cal": k_cal}

    def advance(
        self,
        s: np.ndarray,
        r: dict[str, np.ndarray],
        dt_days: float,
        defc: np.ndarray,
        sq: np.ndarray,
        sr: np.ndarray,
        euler: bool,
    ) -> None:
        """Advance the states in place; sq scales the capacity-loss trajectories (no resistance states)."""
        p = self.P
        s[:, 0] += _adv_power(s[:, 0], dt_days, sq * r["k_cal"], p["qcal_p"], euler)
        s[:, 1] += _adv_power(s[:, 1], defc, sq * p["qcyc_A"], p["qcyc_p"], euler)

    def outputs(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 1.0 - s[:, 0] - s[:, 1], np.ones(s.shape[0])


def second_life_start(
    model: NewCellModel, soh0: np.ndarray, r0: np.ndarray, mode: str, fl_spec: dict[str, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States at the start of second life and the trajectory scales (sq, sr) of a new-cell model.

    The lost capacity ``1 - soh0`` (and resistance gain ``r0 - 1``) is split
    between the time and throughput states as the model splits it after the
    representative first life. ``mode="scaled_history"``: the pack followed
    the model's trajectories scaled by ``sq = (1 - soh0) / loss_first_life``
    (``sr`` likewise), so its states sit at the real first-life age and keep
    that scale. ``mode="virtual_age"``: unscaled trajectories (``sq = sr =
    1``); each state's virtual age is whatever the model needs to reach it.
    New packs (``soh0 = 1``) start as BLAST-Lite's new cell with ``sq = sr = 1``.
    """
    n = soh0.size
    fl, r = model.first_life(n, fl_spec)
    qi, ri = model.Q_IDX, model.R_IDX
    s = np.tile(np.asarray(model.INIT, float), (n, 1))
    used = soh0 < 1.0
    other_q = 1.0 - model.outputs(s)[0]  # loss of the other states at their initial values
    loss = np.maximum(1.0 - soh0 - other_q, 0.0)
    gain = np.maximum(r0 - 1.0, 0.0)
    loss_fl, gain_fl = fl[:, qi].sum(axis=1), fl[:, ri].sum(axis=1)
    s[:, qi] = (loss / loss_fl)[:, None] * fl[:, qi]
    s[:, ri] = (gain / gain_fl)[:, None] * fl[:, ri]
    extra = [j for j in range(s.shape[1]) if j not in qi + ri]
    cols = np.asarray(extra, dtype=np.intp)
    s[np.ix_(used, cols)] = fl[np.ix_(used, cols)]  # knee / break-in states: where the first life left them
    if mode == "virtual_age":
        if isinstance(model, _SonyMurata):  # calendar sigmoid must stay below its plateau q1
            cal = np.minimum(s[:, 0], FIRST_LIFE_CAL_CAP * r["q1"])
            s[:, 1] += s[:, 0] - cal
            s[:, 0] = cal
        return s, np.ones(n), np.ones(n)
    sq = np.where(used, loss / loss_fl, 1.0)
    sr = np.where(used & (gain > 0.01), gain / gain_fl, sq)
    return s, sq, sr


def _first_life(n: int, fl: dict[str, float]) -> tuple[float, float, _Stress]:
    """Duration (days), throughput (EFC) and stress of a representative first life (keys of ``FIRST_LIFE``)."""
    t_days = fl["years"] * 365.0
    efc = fl["years"] * fl["efc_per_year"]
    crate = 2.0 * fl["efc_per_year"] / (365.0 * 24.0)  # window-mean |dSoC/dt|, as BLAST-Lite averages it
    return t_days, efc, _Stress(n, fl["temp_c"], fl["soc_frac"], fl["dod_frac"], crate)


NewCellModel = _Kokam | _SonyMurata  # models of a cell from new (a second life starts from their first life)
AgeingModel = NewCellModel | _NissanLeaf
MODELS: dict[str, type[AgeingModel]] = {"NMC": _Kokam, "LFP": _SonyMurata, "LMO": _NissanLeaf}
MODEL_CLASSES: dict[str, str] = {
    "NMC": "Nmc111_Gr_Kokam75Ah_Battery",
    "LFP": "Lfp_Gr_SonyMurata3Ah_Battery",
    "LMO": "Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery",
}
