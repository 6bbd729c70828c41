"""``evaluate stage`` and ``evaluate survival`` (issue 19): metrics on hand-computed cases, heads round-trip,
and the commands on tiny JSONL files with a fake embedder (no real model)."""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from cmkd_med.errors import AdapterFormatError, DataFormatError, InvalidInputError
from cmkd_med.evaluation.cli import register
from cmkd_med.evaluation.excerpt_cache import excerpt
from cmkd_med.evaluation.pathology_head import PathologyHead
from cmkd_med.evaluation.prognosis_head import PrognosisHead
from cmkd_med.evaluation.stage import axis_metrics, evaluate_stage, read_stage_rows
from cmkd_med.evaluation.survival import (
    clinical_features,
    evaluate_survival,
    fit_cox,
    harrell_c,
    stage_group,
)

_WORDS = ("pT1", "pT2", "pT3", "pT4", "pN0", "pN1", "pN2", "pN3")


def fake_embed(texts: Sequence[str]) -> np.ndarray:
    """(N, 8) counts of the staging words: a stand-in for the teacher, invented notes only."""
    return np.array([[t.split().count(w) for w in _WORDS] for t in texts], dtype=np.float32)


def _notes(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t, k = f"T{1 + i % 4}", f"N{i % 3}"
        filler = " ".join(rng.choice(["resection", "margin", "invasive", "carcinoma", "nodes"], 5))
        out.append((f"Invented note {i}: {filler} staging p{t} p{k}.".replace(".", " ."), t, k))
    return out


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- metrics ------------------------------------------------------------------------------------------


def test_axis_metrics_by_hand() -> None:
    gold = ["T1", "T2", "T2", None, "T3"]
    pred = ["T1", "T2", "T3", "T4", "T3"]  # the None row is not scored
    m = axis_metrics(gold, pred)
    assert m["n"] == 4 and m["accuracy"] == 0.75
    # per label F1: T1 1, T2 2/3 (p 1, r 1/2), T3 2/3 (p 1/2, r 1) -> mean 7/9
    assert m["macro_f1"] == round(7 / 9, 4)
    assert axis_metrics([None], ["T1"]) == {"accuracy": None, "macro_f1": None, "n": 0}


def test_harrell_c_by_hand() -> None:
    time, event = np.array([1, 2, 3, 4]), np.array([1, 1, 0, 1])
    assert harrell_c(time, event, np.array([4.0, 3, 2, 1])) == 1.0
    assert harrell_c(time, event, np.array([1.0, 2, 3, 4])) == 0.0
    assert harrell_c(time, event, np.zeros(4)) == 0.5
    # comparable pairs: (0,1) (0,2) (0,3) (1,2) (1,3); row 3's event has no one after it.
    # risk [2, 3, 1, 0]: concordant (0,2) (0,3) (1,2) (1,3), discordant (0,1) -> 4/5
    assert harrell_c(time, event, np.array([2.0, 3, 1, 0])) == 0.8
    with pytest.raises(InvalidInputError, match="comparable"):
        harrell_c(time, np.zeros(4), np.zeros(4))


def test_harrell_c_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    time, event, risk = rng.integers(1, 50, 700), rng.integers(0, 2, 700), rng.normal(size=700).round(1)
    num = den = 0.0
    for i, j in itertools.permutations(range(700), 2):
        if time[i] < time[j] and event[i]:
            den += 1
            num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    assert harrell_c(time, event, risk) == pytest.approx(num / den)  # crosses the 512-row block edge


def test_fit_cox_recovers_the_direction_of_risk() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    time = rng.exponential(1.0 / np.exp(1.5 * x[:, 0]))  # hazard rises with x0, x1 is noise
    event = (rng.random(400) < 0.8).astype(float)
    beta = fit_cox(x, time, event, l2=0.001)
    assert beta[0] > 1.0 and abs(beta[1]) < 0.3
    assert harrell_c(time, event, x @ beta) > 0.7


def test_stage_group_and_clinical_features() -> None:
    assert [stage_group(s) for s in ("Stage IIIB", "Stage IV", "Stage I", None, "IS")] == [
        3,
        4,
        1,
        None,
        None,
    ]
    x = clinical_features([2, None], [70, None])
    assert x.tolist() == [[0, 1, 0, 0, 0, 1.0], [0, 0, 0, 0, 1, 0.0]]


def test_excerpt_starts_before_the_staging_statement() -> None:
    text = "invented words " * 100 + "Pathologic staging: pT3 pN1" + " more words" * 100
    cut = excerpt(text, chars=200)
    assert "pT3 pN1" in cut and len(cut) == 200
    assert excerpt("no staging here", chars=5) == "no st"
    nodes = "invented words " * 100 + "Metastatic carcinoma in 2/14 lymph nodes." + " more words" * 100
    assert "2/14 lymph nodes" in excerpt(nodes, chars=200, kind="nodes")
    assert excerpt("a report without any node count", chars=5, kind="nodes") == "count"  # the end
    with pytest.raises(ValueError, match="staging, nodes"):
        excerpt("text", kind="margins")


# --- heads --------------------------------------------------------------------------------------------


@pytest.fixture
def head_dir(tmp_path: Path) -> Path:
    notes = _notes(48)
    x = fake_embed([n for n, _, _ in notes])
    head = PathologyHead.fit(x, {"T": [t for _, t, _ in notes], "N": [k for _, _, k in notes]}, grid=(1.0,))
    folder = tmp_path / "adapter"
    head.save(folder)
    return folder


def test_pathology_head_round_trip_and_damage(head_dir: Path) -> None:
    head = PathologyHead.load(head_dir)
    assert head.classes == {"T": ["T1", "T2", "T3", "T4"], "N": ["N0", "N1", "N2"]}
    assert head.predict(fake_embed(["pT4 pN2"])) == {"T": ["T4"], "N": ["N2"]}
    assert (head_dir / "pathology.safetensors").stat().st_size < 1_000_000
    (head_dir / "pathology.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(AdapterFormatError):
        PathologyHead.load(head_dir)


def test_evaluate_stage_with_a_fake_embedder(head_dir: Path, tmp_path: Path) -> None:
    rows = [
        {"id": f"r{i}", "text": n, "T": t, **({"N": k} if i % 2 else {})}
        for i, (n, t, k) in enumerate(_notes(12, 5))
    ]
    data = _jsonl(tmp_path / "dev.jsonl", rows)
    train = [(n, t, k) for n, t, k in _notes(40, 9)]
    result = evaluate_stage(data, "en", head_dir, embedder=fake_embed, train=train)
    assert result["n"] == 12 and result["T"]["n"] == 12 and result["N"]["n"] == 6
    assert result["T"]["accuracy"] == 1.0  # the fake embedding holds the answer
    base = result["baselines"]["tfidf_logreg"]
    assert set(base) == {"T", "N"} and base["T"]["n"] == 12 and 0 <= base["T"]["macro_f1"] <= 1


def test_stage_rows_are_validated(tmp_path: Path) -> None:
    bad = _jsonl(tmp_path / "bad.jsonl", [{"id": "a", "text": "note", "T": "T2a"}])
    with pytest.raises(DataFormatError, match=r"bad\.jsonl:1: 'T' must be one of T1"):
        read_stage_rows(bad)


def test_evaluate_survival_with_fakes(head_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 60
    stages = [1 + i % 4 for i in range(n)]
    texts = [f"pT{s} pN0 invented" for s in stages]
    time = rng.exponential(1000 / np.array(stages) ** 2).round() + 1
    event = (rng.random(n) < 0.7).astype(int)
    facts = {f"r{i}": (stages[i], 50 + i % 30) for i in range(n)}
    clinical = clinical_features(stages, [50 + i % 30 for i in range(n)])
    x = np.hstack([fake_embed(texts), clinical])
    mean, scale = x.mean(0), x.std(0) + 1e-6
    beta = fit_cox((x - mean) / scale, time, event, 0.01)
    PrognosisHead(beta, mean.astype(np.float32), scale.astype(np.float32), {"endpoint": "PFI"}).save(head_dir)
    rows = [
        {"id": f"r{i}", "text": texts[i], "time": float(time[i]), "event": int(event[i])} for i in range(n)
    ]
    data = _jsonl(tmp_path / "surv.jsonl", rows)
    result = evaluate_survival(
        data, "en", head_dir, embedder=fake_embed, facts=facts, train=(clinical, time, event.astype(float))
    )
    assert result["n"] == n and result["events"] == int(event.sum()) and result["stage_coverage"] == 1.0
    assert result["c_index"] > 0.6 and result["baselines"]["stage_only"]["c_index"] > 0.6
    assert PathologyHead.load(head_dir).classes["T"] == ["T1", "T2", "T3", "T4"]  # T/N tensors kept
    PathologyHead.load(head_dir).save(head_dir)  # refitting T/N keeps the prognosis head
    assert PrognosisHead.load(head_dir).meta == {"endpoint": "PFI"}


def test_survival_rows_are_validated(tmp_path: Path) -> None:
    from cmkd_med.evaluation.survival import read_survival_rows

    for row, message in (({"time": -1, "event": 1}, "time"), ({"time": 5, "event": 2}, "event")):
        bad = _jsonl(tmp_path / "bad.jsonl", [{"id": "a", "text": "note", **row}])
        with pytest.raises(DataFormatError, match=message):
            read_survival_rows(bad)


def test_cli_without_a_head_or_baselines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    data = _jsonl(tmp_path / "dev.jsonl", [{"id": "a", "text": "pT2 pN0", "T": "T2", "N": "N0"}])
    out = tmp_path / "m.json"
    argv = ["evaluate", "stage", "--lang", "en", "--data", str(data), "--teacher", str(tmp_path / "none"),
            "--no-baselines", "--out", str(out)]  # fmt: skip
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["n"] == 1 and result["T"] is None and "no pathology head" in result["model"]
    assert json.loads(capsys.readouterr().out) == result


def test_committed_heads_are_small_and_load() -> None:
    from cmkd_med.config import DEFAULT_TEACHER_DIR

    if not PathologyHead.exists(DEFAULT_TEACHER_DIR):
        pytest.skip(f"no pathology head in {DEFAULT_TEACHER_DIR}")
    files = list(DEFAULT_TEACHER_DIR.glob("pathology.*"))
    assert sum(p.stat().st_size for p in files) < 1_000_000
    head = PathologyHead.load(DEFAULT_TEACHER_DIR)
    assert head.classes == {"T": ["T1", "T2", "T3", "T4"], "N": ["N0", "N1", "N2", "N3"]}
    assert PrognosisHead.load(DEFAULT_TEACHER_DIR).meta["endpoint"].startswith("PFI")
