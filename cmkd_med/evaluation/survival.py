r"""``cmkd-med evaluate survival``: Harrell's C-index of a prognosis score on held-out patients (research).

Rows: ``{"id", "text", "time", "event"}`` (days; 1 = event, 0 = censored). Output: ``n``, ``events``,
``c_index`` of the prognosis head, and ``baselines``: ``stage_only``, a Cox model on the AJCC stage group
alone, and ``stage_age``, stage group and age, both fitted on the TCGA train patients in the same run. The
figures describe a cohort: they are never shown in, or next to, a patient summary.

The prognosis head is a Cox proportional-hazards model over the teacher-space excerpt embedding plus stage
group and age. Stage and age are not read from the text: they come from the patient tables when a row's
``id`` is a TCGA report id (``stage_coverage`` says for how many rows), and are marked missing otherwise.
The head is fitted by maximising the Breslow partial log-likelihood with an L2 penalty:

.. math::

    \ell(\beta) = \sum_{i:\,\delta_i = 1} \Bigl(x_i^\top\beta
        - \log \sum_{j:\,t_j \ge t_i} e^{x_j^\top\beta}\Bigr) - \tfrac{\lambda}{2}\lVert\beta\rVert^2
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.errors import DataFormatError, InvalidInputError
from cmkd_med.evaluation.jsonl import iter_jsonl
from cmkd_med.languages import normalize_lang
from cmkd_med.text import validate_text

_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4}
_STAGE = re.compile(r"^Stage\s+(IV|III|II|I)")


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index: among comparable pairs (``t_i < t_j`` with an event at ``t_i``), the
    fraction where the earlier one has the higher risk; tied risks count one half.

    Written here rather than imported: it is a few lines of NumPy, and lifelines or scikit-survival would be
    a new dependency for one function. O(N²) memory in blocks of 512 rows, fine for dev-set sizes.

    >>> harrell_c(np.array([1, 2, 3]), np.array([1, 1, 0]), np.array([3.0, 2.0, 1.0]))
    1.0
    """
    time, event, risk = (np.asarray(a, dtype=np.float64) for a in (time, event, risk))
    if not (time.shape == event.shape == risk.shape) or time.ndim != 1:
        raise InvalidInputError("time, event and risk must be 1-D arrays of the same length")
    if not np.isfinite(risk).all():
        raise InvalidInputError("risk contains NaN or infinite values")
    concordant = comparable = 0.0
    for start in range(0, len(time), 512):
        t, e, r = (
            time[start : start + 512, None],
            event[start : start + 512, None],
            risk[start : start + 512, None],
        )
        pairs = (t < time[None, :]) & (e == 1)  # (B, N): i (row) failed before j (column) was last seen
        comparable += pairs.sum()
        concordant += (pairs & (r > risk[None, :])).sum() + 0.5 * (pairs & (r == risk[None, :])).sum()
    if comparable == 0:
        raise InvalidInputError("no comparable pairs (no events, or all times tied)")
    return float(concordant / comparable)


def stage_group(stage: str | None) -> int | None:
    """1-4 for ``"Stage I"``…``"Stage IVC"`` (sub-groups collapse), None otherwise."""
    match = _STAGE.match(stage or "")
    return _ROMAN[match.group(1)] if match else None


def clinical_features(stages: Sequence[int | None], ages: Sequence[int | None]) -> np.ndarray:
    """(N, 6): one-hot stage group I-IV, stage-missing, age in decades from 60 (0 where missing)."""
    x = np.zeros((len(stages), 6), np.float32)
    for i, (s, a) in enumerate(zip(stages, ages, strict=True)):
        x[i, (s - 1) if s else 4] = 1.0
        x[i, 5] = 0.0 if a is None else (a - 60) / 10
    return x


def fit_cox(x: np.ndarray, time: np.ndarray, event: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """β maximising the penalised Breslow partial likelihood above (L-BFGS); ``x`` is (N, P)."""
    from scipy.optimize import minimize

    order = np.argsort(-np.asarray(time, dtype=np.float64), kind="stable")  # longest first: risk sets grow
    xs, ev = np.asarray(x, np.float64)[order], np.asarray(event, np.float64)[order]
    n_events = max(ev.sum(), 1.0)

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = xs @ beta  # (N,)
        shift = eta.max()
        w = np.exp(eta - shift)
        cum_w = np.cumsum(w)  # risk-set sums, since row k's risk set is rows 0..k (ties: Breslow-like)
        cum_wx = np.cumsum(w[:, None] * xs, axis=0)  # (N, P)
        log_risk = np.log(cum_w) + shift
        ll = (ev * (eta - log_risk)).sum()
        grad = (ev[:, None] * (xs - cum_wx / cum_w[:, None])).sum(0)
        return (-ll / n_events + 0.5 * l2 * beta @ beta, -grad / n_events + l2 * beta)

    result = minimize(loss, np.zeros(xs.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return np.asarray(result.x, dtype=np.float32)


def read_survival_rows(path: str | Path) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    ids, texts, times, events = [], [], [], []
    for lineno, obj in iter_jsonl(path):
        if not isinstance(obj.get("id"), str) or not isinstance(obj.get("text"), str):
            raise DataFormatError(f"{path}:{lineno}: 'id' and 'text' must be strings")
        t, e = obj.get("time"), obj.get("event")
        if isinstance(t, bool) or not isinstance(t, int | float) or not np.isfinite(t) or t < 0:
            raise DataFormatError(f"{path}:{lineno}: 'time' must be a non-negative number of days")
        if e not in (0, 1) or isinstance(e, bool):
            raise DataFormatError(f"{path}:{lineno}: 'event' must be 0 or 1")
        try:
            texts.append(validate_text(obj["text"], f"row {lineno} text"))
        except ValueError as exc:
            raise DataFormatError(f"{path}:{lineno}: {exc}") from None
        ids.append(obj["id"])
        times.append(float(t))
        events.append(int(e))
    if not ids:
        raise DataFormatError(f"{path}: no rows")
    return ids, texts, np.array(times), np.array(events)


def patient_facts(data_root: str | Path | None = None) -> dict[str, tuple[int | None, int | None]]:
    """report id -> (stage group, age) for every TCGA train and dev report."""
    from cmkd_med.data.patient_join import patient_reports

    return {
        r.report_id: (stage_group(r.stage), r.age)
        for s in ("train", "dev")
        for r in patient_reports(s, data_root)
    }


def evaluate_survival(
    path: str | Path,
    lang: str,
    head_dir: str | Path | None = None,
    *,
    baselines: bool = True,
    data_root: str | Path | None = None,
    embedder: Any | None = None,
    facts: dict[str, tuple[int | None, int | None]] | None = None,
    train: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    student_dir: str | Path | None = None,
) -> dict[str, Any]:
    """C-index of the prognosis head (when the head folder has one) and of the same-run stage-only Cox.

    ``facts`` (report id -> (stage group, age)) and ``train`` (clinical features, time, event of the train
    patients) replace the TCGA tables; ``embedder`` replaces the language's model (tests use tiny ones).
    """
    from cmkd_med.config import DEFAULT_TEACHER_DIR
    from cmkd_med.evaluation.prognosis_head import PrognosisHead, train_clinical

    lang = normalize_lang(lang)
    ids, texts, time, event = read_survival_rows(path)
    facts = patient_facts(data_root) if facts is None else facts
    stages = [facts.get(i, (None, None))[0] for i in ids]
    ages = [facts.get(i, (None, None))[1] for i in ids]
    clinical = clinical_features(stages, ages)  # (N, 6)
    result: dict[str, Any] = {"n": len(ids), "events": int(event.sum()), "lang": lang}
    result["stage_coverage"] = round(sum(s is not None for s in stages) / len(ids), 4)
    folder = Path(head_dir or DEFAULT_TEACHER_DIR)
    if PrognosisHead.exists(folder):
        from cmkd_med.evaluation.stage import language_embedder

        head = PrognosisHead.load(folder)
        embed = embedder or language_embedder(lang, head_dir, student_dir)
        risk = head.risk(np.asarray(embed(texts), dtype=np.float32), clinical)
        result["c_index"] = round(harrell_c(time, event, risk), 4)
        result["model"] = "Cox head on the excerpt embedding + stage group + age (PFI)"
    else:
        result["c_index"] = None
        result["model"] = f"none: no prognosis head in {folder}; baselines only"
    if baselines:
        x_train, t_train, e_train = train if train is not None else train_clinical(data_root)
        result["baselines"] = {}
        # stage_only: stage one-hot + missing (the baseline); stage_age adds age, the head's other
        # non-text input, so that a gain over it is the text's.
        for name, cols in (("stage_only", 5), ("stage_age", 6)):
            beta = fit_cox(x_train[:, :cols], t_train, e_train, l2=0.01)
            risk = clinical[:, :cols] @ beta
            result["baselines"][name] = {"c_index": round(harrell_c(time, event, risk), 4)}
    return result
