"""``cmkd-med evaluate retrieve``: cross-lingual retrieval of English sentences from target-language queries.

The TSV has a column ``en`` and one named by the language code (as ``tico19/dev.tsv``). Each target-language
sentence is a query against all English sentences of the file: the student embeds the query, the teacher
embeds the English side, both in the teacher space. Output: ``n``, ``recall_at_1``, ``recall_at_10``,
``mrr`` and ``baselines`` from the same run: the bundled base model on both sides (no distillation), and the
teacher reading the target language itself. Each baseline carries ``vs_student``, a paired comparison on the
same queries: how many only the student ranks first, how many only the baseline, and the exact McNemar
p-value of that split (on a few hundred sentences a difference of a sentence or two is noise).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cmkd_med.errors import DataFormatError, DataNotFoundError
from cmkd_med.languages import normalize_lang


def read_pairs(path: str | Path, lang: str) -> tuple[list[str], list[str]]:
    """(English, target) sentences of the rows where both are non-empty."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"no such file: {path}")
    csv.field_size_limit(2**31 - 1)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            columns = reader.fieldnames or []
            if "en" not in columns or lang not in columns:
                raise DataFormatError(f"{path}: needs tab-separated columns 'en' and '{lang}', has {columns}")
            pairs = [((r.get("en") or "").strip(), (r.get(lang) or "").strip()) for r in reader]
    except UnicodeDecodeError:
        raise DataFormatError(f"{path}: not valid UTF-8") from None
    pairs = [(en, tgt) for en, tgt in pairs if en and tgt]
    if not pairs:
        raise DataFormatError(f"{path}: no rows with both 'en' and '{lang}'")
    return [en for en, _ in pairs], [tgt for _, tgt in pairs]


def gold_ranks(queries: torch.Tensor, keys: torch.Tensor, gold: list[int]) -> np.ndarray:
    """Rank of each query's gold key (1 = best) among L2-normalised ``keys`` (M, D); ``queries`` (N, D)."""
    scores = queries @ keys.T  # (N, M)
    target = scores[torch.arange(len(gold)), torch.tensor(gold)]  # (N,)
    return ((scores > target[:, None]).sum(1) + 1).numpy()  # ties count in the query's favour


def retrieval_metrics(queries: torch.Tensor, keys: torch.Tensor, gold: list[int]) -> dict[str, Any]:
    """Recall@1, recall@10 and MRR of L2-normalised ``queries`` (N, D) against ``keys`` (M, D)."""
    return rank_metrics(gold_ranks(queries, keys, gold))


def rank_metrics(rank_np: np.ndarray) -> dict[str, Any]:
    """Recall@1, recall@10 and MRR from each query's gold rank (1 = best)."""
    return {
        "n": len(rank_np),
        "recall_at_1": round(float(np.mean(rank_np <= 1)), 4),
        "recall_at_10": round(float(np.mean(rank_np <= 10)), 4),
        "mrr": round(float(np.mean(1.0 / rank_np)), 4),
    }


def paired_comparison(student_hits: np.ndarray, baseline_hits: np.ndarray) -> dict[str, Any]:
    """Queries only the student gets right, only the baseline, and the exact (binomial) McNemar p-value."""
    from scipy.stats import binomtest

    student_only = int(np.sum(student_hits & ~baseline_hits))
    baseline_only = int(np.sum(baseline_hits & ~student_hits))
    discordant = student_only + baseline_only
    p = binomtest(student_only, discordant, 0.5).pvalue if discordant else 1.0
    return {
        "student_only": student_only,
        "baseline_only": baseline_only,
        "mcnemar_exact_p": round(float(p), 4),
    }


def _base_vectors(encoder: Any, texts: list[str]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.stack([c.mean(0) for c in encoder.encode(texts)]), dim=-1)


def evaluate_retrieve(
    path: str | Path,
    lang: str,
    teacher_dir: str | Path | None = None,
    student_dir: str | Path | None = None,
    baselines: bool = True,
) -> dict[str, Any]:
    from cmkd_med.models.student_runtime import Student
    from cmkd_med.models.teacher_runtime import Teacher

    lang = normalize_lang(lang)
    if lang == "en":
        raise DataFormatError("retrieval queries are in pt, hi or sw; English is the side searched")
    english, queries = read_pairs(path, lang)
    unique = list(dict.fromkeys(english))  # a repeated English sentence is one candidate
    gold = [unique.index(en) for en in english]
    student = Student.load(student_dir or lang)
    teacher = Teacher.load(teacher_dir)
    keys = teacher.embed_text(unique)
    student_ranks = gold_ranks(student.embed_text(queries), keys, gold)
    result = {**rank_metrics(student_ranks), "lang": lang}
    if baselines:
        from cmkd_med.models.text_encoder import ChunkedTextEncoder

        base = ChunkedTextEncoder.from_spec(student.model.config.base_model)
        result["baselines"] = {}
        for name, (q, k) in {
            "base_model": (_base_vectors(base, queries), _base_vectors(base, unique)),
            "teacher_both_sides": (teacher.embed_text(queries), keys),
        }.items():
            ranks = gold_ranks(q, k, gold)
            result["baselines"][name] = {
                **rank_metrics(ranks),
                "vs_student": paired_comparison(student_ranks == 1, ranks == 1),
            }
    return result
