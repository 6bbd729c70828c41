"""Building a student end to end: corpus, teacher targets, distillation, model selection, calibration.

``distill_student`` is what ``cmkd-med distill --lang L`` runs (under ``torchrun`` too). Expensive
intermediate results (report windows and their English mentions, the teacher's targets, the items' token and
concept ids) are cached under ``.cache/distill/<lang>/`` keyed by their inputs, and training resumes from its
last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from cmkd_med.models.student import NULL_CONCEPT, StudentConfig, StudentModel
from cmkd_med.models.teacher import TeacherInputs, pad_chunks
from cmkd_med.training.distill import (
    DistillConfig,
    Distiller,
    Encoded,
    Targets,
    barrier,
    cache_root,
    save_json,
    summarize_history,
    world,
)
from cmkd_med.training.distill_data import TICO_HELDOUT_DOCS, DistillCorpus, build_corpus, code_switch


@dataclass
class StudentJob:
    lang: str
    out: Path
    teacher_dir: Path
    base_model: str = "bundled:e5-small"
    data_root: str | None = None
    dev: Path | None = None  # labelled notes in the language, for model selection (best epoch)
    entity_attention: bool = True
    n_reports: int = 800
    n_parallel: int = 1500
    calibrate: bool = True
    n_calibration: int = 300
    max_items: int | None = None  # subsample the corpus (quick trials, tests)
    fresh: bool = False


def _log(message: str) -> None:
    if world()[0] == 0:
        print(f"[distill] {message}", file=sys.stderr)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, ensure_ascii=False).encode()).hexdigest()[:12]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def teacher_targets(teacher: Any, texts: Sequence[str], progress: bool) -> Targets:
    """The teacher's raw shared-space embedding (member 0, dropout off) and calibrated class probabilities:
    the ensemble's (dropout off), pooled with its lexical expert as :meth:`Teacher.predict` pools them."""
    heads = teacher.heads.eval()
    embs, probs = [], []
    from tqdm import tqdm

    batch = 64
    for s in tqdm(range(0, len(texts), batch), desc="teacher targets", disable=not progress or None):
        chunks, mask = pad_chunks(teacher.encoder.encode(list(texts[s : s + batch])))
        with torch.no_grad():
            embs.append(heads.embed_text(chunks, mask))
            neural = heads.predict_proba(TeacherInputs(chunks, mask), mc_samples=1).numpy()
        probs.append(torch.from_numpy(teacher.pool_lexical(neural, texts[s : s + batch])).float())
    return Targets(torch.cat(embs), torch.cat(probs))


def _cached_targets(path: Path, compute: Callable[[], Targets]) -> Targets:
    if path.exists():
        t = load_file(str(path))
        return Targets(t["embedding"], t["probs"])
    targets = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"embedding": targets.embedding.contiguous(), "probs": targets.probs.contiguous()}, str(tmp))
    tmp.replace(path)
    return targets


def encode_items(
    texts: Sequence[str],
    langs: Sequence[str],
    windower: Any,
    max_tokens: int,
    concept_index: dict[str, int],
    linkers: dict[str, Any],
) -> Encoded:
    """First window (cut to ``max_tokens``) of each text, and its linked concepts' table rows."""
    from cmkd_med.models.student import MAX_CONCEPTS

    ids: list[list[int]] = []
    concepts: list[list[int]] = []
    for text, lang in zip(texts, langs, strict=True):
        window = windower.windows(text)[0]
        if len(window) > max_tokens:
            window = [*window[: max_tokens - 1], window[-1]]  # keep the closing special token
        ids.append(window)
        linker = linkers.get(lang)
        if linker is None:
            concepts.append([])
            continue
        found = sorted(linker.link(text), key=lambda m: -m.score)
        rows = [concept_index[m.cui] for m in found if m.cui in concept_index]
        concepts.append(list(dict.fromkeys(rows))[:MAX_CONCEPTS])
    return Encoded(ids, concepts)


def _cached_corpus(job: StudentJob, seed: int, corpus_builder: Callable[[], DistillCorpus]) -> DistillCorpus:
    """The distillation corpus, cached under everything it is built from (the seed draws the code-switch)."""
    key = _digest(job.n_reports, job.n_parallel, job.data_root, seed, TICO_HELDOUT_DOCS)
    path = cache_root(job.lang) / f"corpus_{key}.json"
    if path.exists():
        raw = json.loads(path.read_text(encoding="utf-8"))
        corpus = DistillCorpus(job.lang)
        for item in raw["items"]:
            corpus.add(raw["sources"][item["source"]], item["text"], item["kind"], item["label"])
        return corpus
    corpus = corpus_builder()
    save_json(
        path,
        {"sources": corpus.sources, "items": [asdict(it) for it in corpus.items]},
    )
    return corpus


def distill_student(
    job: StudentJob, config: DistillConfig, progress: bool = True, log: Callable[[str], None] = _log
) -> dict[str, Any]:
    """Distil, select the best epoch on ``job.dev``, calibrate and save the student into ``job.out``."""
    from cmkd_med.models.providers import load_encoder
    from cmkd_med.models.student_runtime import Student
    from cmkd_med.models.teacher import enable_mc_dropout
    from cmkd_med.models.teacher_runtime import Teacher
    from cmkd_med.models.text_encoder import ChunkedTextEncoder, ChunkingConfig
    from cmkd_med.ontology.kb import KnowledgeBase
    from cmkd_med.ontology.linker import get_linker
    from cmkd_med.training.teacher import calibrate, seed_everything

    rank, size = world()
    seed_everything(config.seed)
    teacher = Teacher.load(job.teacher_dir)
    kb = KnowledgeBase.load()
    link_en = get_linker("en")
    link_l = get_linker(job.lang)

    # 1. corpus and teacher targets: built by rank 0, read by the others
    def build() -> DistillCorpus:
        return build_corpus(
            job.lang, kb, link_en.link, job.data_root, job.n_reports, n_parallel=job.n_parallel,
            seed=config.seed, progress=progress,
        )  # fmt: skip

    if rank == 0:
        corpus = _cached_corpus(job, config.seed, build)
    barrier()
    if rank != 0:
        corpus = _cached_corpus(job, config.seed, build)
    if job.max_items is not None:
        corpus = corpus.subsample(job.max_items, config.seed)
    log(f"corpus: {len(corpus.items)} items from {len(corpus.sources)} English sources {corpus.counts()}")
    weights_digest = _file_digest(job.teacher_dir / "teacher.safetensors")
    # the targets depend on the weights, the calibration (config.json) and the lexical expert
    teacher_files = [
        _file_digest(f) for f in sorted(job.teacher_dir.glob("*.json")) if f.name != "training_report.json"
    ]
    lexical = job.teacher_dir / "lexical.safetensors"
    teacher_key = _digest(weights_digest, teacher_files, _file_digest(lexical) if lexical.exists() else None,
                          corpus.sources)  # fmt: skip
    targets_path = cache_root(job.lang) / f"targets_{teacher_key}.safetensors"
    if rank == 0:
        targets = _cached_targets(targets_path, lambda: teacher_targets(teacher, corpus.sources, progress))
    barrier()
    if rank != 0:
        targets = _cached_targets(targets_path, lambda: teacher_targets(teacher, corpus.sources, False))

    # 2. the student, initialised from the teacher's heads and its embedding of each concept's English label
    concepts = [NULL_CONCEPT, *sorted(c.cui for c in kb)]
    base, tokenizer, spec = load_encoder(job.base_model)
    model_config = StudentConfig(
        lang=job.lang,
        base_model=job.base_model,
        text_dim=int(spec.hidden_size),
        shared_dim=teacher.heads.config.shared_dim,
        text_space=teacher.heads.config.text_space,
        classifier_hidden=teacher.heads.config.classifier_hidden,
        dropout=teacher.heads.config.dropout,
        classes=list(teacher.heads.config.classes),
        concepts=concepts,
        entity_attention=job.entity_attention,
        teacher={"base_model": teacher.heads.config.base_model, "weights_sha256_12": weights_digest},
    )
    torch.manual_seed(config.seed)
    model = StudentModel(model_config, base)
    labels_en = [kb[c].preferred("en") if c != NULL_CONCEPT else "" for c in concepts]
    label_key = _digest(teacher_key, labels_en)
    label_path = cache_root(job.lang) / f"concepts_{label_key}.safetensors"
    label_targets = _cached_targets(label_path, lambda: teacher_targets(teacher, labels_en[1:], progress))
    vectors = torch.cat([torch.zeros(1, model_config.shared_dim), label_targets.embedding])
    copied = model.init_from_teacher(teacher.heads.members[0].state_dict(), vectors)
    log(f"heads initialised from the teacher: {', '.join(copied)}")

    # 3. token and concept ids of every item
    windower = ChunkedTextEncoder(None, tokenizer, spec, ChunkingConfig())
    index = {c: i for i, c in enumerate(concepts)}
    item_langs = ["en" if it.kind == "report_en" else job.lang for it in corpus.items]
    enc_key = _digest(job.base_model, config.max_tokens, [it.text for it in corpus.items])
    enc_path = cache_root(job.lang) / f"encoded_{enc_key}.json"
    if rank == 0 and not enc_path.exists():
        encoded = encode_items(
            [it.text for it in corpus.items], item_langs, windower, config.max_tokens, index,
            {"en": link_en, job.lang: link_l},
        )  # fmt: skip
        save_json(enc_path, asdict(encoded))
    barrier()
    raw = json.loads(enc_path.read_text(encoding="utf-8"))
    encoded = Encoded(raw["input_ids"], raw["concept_ids"])
    if not job.entity_attention:
        encoded = Encoded(encoded.input_ids, [[] for _ in encoded.concept_ids])

    # 4. distillation, with the best epoch on the dev notes kept
    lower = None
    if model.splittable:
        lower_path = cache_root(job.lang) / f"lower_{_digest(enc_key, model.split)}.safetensors"
        if rank == 0 and not lower_path.exists():
            save_lower(lower_path, lower_states(model, encoded, tokenizer.pad_token_id, progress))
        barrier()
        lower = load_lower(lower_path)
    distiller = Distiller(model, config, corpus, encoded, targets, tokenizer.pad_token_id, lower)
    tag = "ent" if job.entity_attention else "noent"
    arch = {k: v for k, v in asdict(model_config).items() if k not in ("temperature", "abstain_threshold")}
    ckpt = cache_root(job.lang) / f"ckpt_{_digest(asdict(config), arch, tag, teacher_key, enc_key)}.pt"
    if job.fresh and ckpt.exists() and rank == 0:
        ckpt.unlink()
    barrier()
    if ckpt.exists():
        try:
            distiller.resume(ckpt)
            log(f"resumed from {ckpt.name} at step {distiller.step}")
        except (ValueError, KeyError, RuntimeError) as exc:  # not this run's checkpoint: start over
            log(f"ignoring checkpoint {ckpt.name} ({exc}); starting from step 0")
            distiller = Distiller(model, config, corpus, encoded, targets, tokenizer.pad_token_id, lower)
    student = Student(model, tokenizer, spec, link_l if job.entity_attention else None)
    dev_rows = _read_dev(job.dev) if job.dev is not None else None
    # the epoch selection lives in the distiller, so a checkpoint carries it across an interruption
    picked = distiller.selection.setdefault("epochs", [])

    def on_epoch(epoch: int) -> None:
        if dev_rows is None or rank != 0:
            return
        score = _macro_f1(student, dev_rows)
        picked.append({"epoch": epoch, "dev_macro_f1": round(score, 4)})
        log(f"epoch {epoch}: dev macro-F1 {score:.3f}")
        if score > distiller.selection.get("best_score", -1.0):
            distiller.selection["best_score"] = score
            distiller.selection["best_state"] = {k: v.clone() for k, v in model.trainable_state().items()}

    if dev_rows is not None and rank == 0 and distiller.step == 0:
        on_epoch(0)  # the untrained student (the base with the teacher's heads) is a candidate too
    distiller.run(ckpt, progress=progress, on_epoch=on_epoch, log=log)
    if "best_state" in distiller.selection:
        model.load_state_dict(distiller.selection["best_state"], strict=False)
    model.eval()

    means = summarize_history(distiller.history)
    report: dict[str, Any] = {
        "lang": job.lang,
        "items": corpus.counts(),
        "english_sources": len(corpus.sources),
        "steps": distiller.step,
        "processes": size,
        "config": asdict(config),
        "entity_attention": job.entity_attention,
        "losses_mean": means,
        "gate_pass_rate": means.get("gate_pass"),
        "selection": picked,
    }

    # 5. calibration on code-switched windows of the calibration patients' reports (never trained on)
    if job.calibrate and rank == 0:
        texts, y = calibration_windows(job, kb, link_en.link, config.seed)
        padded, mask = pad_chunks(student.chunk_vectors(texts))
        torch.manual_seed(config.seed)
        enable_mc_dropout(model)
        with torch.no_grad():
            logits = list(model.mc_logits(padded, mask, model_config.mc_samples))
        model.eval()
        cal = calibrate(logits, torch.tensor(y), 0.98, 0.10)
        model_config.temperature, model_config.abstain_threshold = cal.temperature, cal.abstain_threshold
        report["calibration"] = {
            "windows": len(texts),
            "ece_before": round(cal.ece_before, 4),
            "ece_after": round(cal.ece_after, 4),
            "temperature": round(model_config.temperature, 4),
            "abstain_threshold": round(model_config.abstain_threshold, 4),
        }
    if rank == 0:
        model.save(job.out)
        save_json(job.out / "training_report.json", report)
    barrier()
    return report


@torch.no_grad()
def lower_states(model: StudentModel, encoded: Encoded, pad_id: int, progress: bool) -> list[torch.Tensor]:
    """Each item's hidden states below the first LoRA layer, float16 (T_i, H); fixed during training."""
    from tqdm import tqdm

    from cmkd_med.training.distill import collate

    order = sorted(range(len(encoded.input_ids)), key=lambda r: len(encoded.input_ids[r]))
    out: list[torch.Tensor] = [torch.zeros(0)] * len(order)
    batches = range(0, len(order), 64)
    for start in tqdm(batches, desc="frozen layers (once)", disable=not progress or None):
        rows = order[start : start + 64]
        ids, mask, _, _ = collate(encoded, rows, pad_id)
        hidden = model.lower(ids, mask)  # (b, T, H)
        for i, r in enumerate(rows):
            out[r] = hidden[i, : len(encoded.input_ids[r])].half().clone()
    return out


def save_lower(path: Path, states: list[torch.Tensor]) -> None:
    offsets = torch.tensor([0] + [len(s) for s in states]).cumsum(0)
    tmp = path.with_suffix(".tmp")
    save_file({"states": torch.cat(states).contiguous(), "offsets": offsets}, str(tmp))
    tmp.replace(path)


def load_lower(path: Path) -> list[torch.Tensor]:
    t = load_file(str(path))
    offsets = t["offsets"].tolist()
    return [t["states"][offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def calibration_windows(
    job: StudentJob, kb: Any, link_en: Callable[[str], Sequence[object]], seed: int
) -> tuple[list[str], list[int]]:
    """Code-switched best windows of reports of the calibration patients (held out of distillation)."""
    from cmkd_med.data.tcga import TCGA_CLASSES, load_tcga
    from cmkd_med.training.distill_data import best_window
    from cmkd_med.training.teacher import calibration_mask

    reports = load_tcga("train", job.data_root)
    rows = np.where(calibration_mask([r.report_id for r in reports], 0.12))[0]
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(rows, size=min(job.n_calibration, len(rows)), replace=False))
    texts, labels = [], []
    for i in rows:
        window = best_window(reports[i].text, link_en, 90)
        texts.append(code_switch(window, link_en(window), kb, job.lang, rng, 0.9))
        labels.append(list(TCGA_CLASSES).index(reports[i].label))
    return texts, labels


def _read_dev(path: Path) -> tuple[list[str], list[str]]:
    from cmkd_med.evaluation.classify import read_classify_rows

    _, texts, labels = read_classify_rows(path)
    return texts, labels


def _macro_f1(student: Any, rows: tuple[list[str], list[str]]) -> float:
    from sklearn.metrics import f1_score

    pred = student.predict(rows[0], mc_samples=1)
    return float(f1_score(rows[1], pred.labels, labels=student.classes, average="macro", zero_division=0))


def default_config(**overrides: Any) -> DistillConfig:
    return replace(DistillConfig(), **overrides)
