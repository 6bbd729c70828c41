"""Which teacher: MiniLM or multilingual e5-small as the body, frozen heads or LoRA (measured, not assumed).

    python bench/teacher_compare.py [--train-every 6] [--dev-every 2]

On the same subsets (every k-th report of TCGA train and dev, so every class is present):
1. teacher quality: frozen body + the same heads and training config; dev accuracy and macro-F1;
2. distillability: TICO-19 dev, English embedded by the teacher's body, pt/hi/sw by the student base (bundled
   e5-small) before any distillation: recall@1 says how much of the teacher's space students already share;
3. LoRA (peft, r=8 on query/value) fine-tuning of the MiniLM body + a mean-pooled linear head vs the frozen
   body + the same head, same reports, same chunk budget.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save


def heads_quality(model: str, train_every: int, dev_every: int, epochs: int) -> dict[str, float]:
    import numpy as np
    import torch

    from cmkd_med.evaluation.metrics import classification_metrics
    from cmkd_med.models.teacher import TeacherConfig
    from cmkd_med.training.embed_cache import embed_split
    from cmkd_med.training.teacher import TeacherTrainer, TrainConfig

    train = embed_split(model, "train", every=train_every)
    dev = embed_split(model, "dev", every=dev_every)
    config = TeacherConfig(base_model=model, text_dim=int(train.chunks[0].shape[1]), mc_samples=1)
    trainer = TeacherTrainer(config, TrainConfig(epochs=epochs, seed=13))
    rows = np.arange(len(train.ids))
    start = time.perf_counter()
    for _ in range(epochs):
        trainer.train_epoch(train, rows)
    train_s = time.perf_counter() - start
    logits = trainer.logits_of(dev, np.arange(len(dev.ids)))
    probs = torch.softmax(logits, -1).numpy()
    metrics = classification_metrics(dev.labels, probs, config.classes)
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "train_reports": len(rows),
        "dev_reports": len(dev.ids),
        "head_training_s": round(train_s, 1),
    }


def tico_distillability(teacher_model: str, student_model: str = "bundled:e5-small") -> dict[str, float]:
    import torch

    from cmkd_med.config import data_path
    from cmkd_med.models.text_encoder import ChunkedTextEncoder

    with data_path("tico19", "dev.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    teacher = ChunkedTextEncoder.from_spec(teacher_model)
    student = teacher if teacher_model == student_model else ChunkedTextEncoder.from_spec(student_model)
    english = torch.stack([c.mean(0) for c in teacher.encode([r["en"] for r in rows])])
    english = torch.nn.functional.normalize(english, dim=-1)
    out = {}
    for lang in ("pt", "hi", "sw"):
        queries = torch.stack([c.mean(0) for c in student.encode([r[lang] for r in rows])])
        sims = torch.nn.functional.normalize(queries, dim=-1) @ english.T
        out[f"recall_at_1_{lang}"] = round(
            float((sims.argmax(1) == torch.arange(len(rows))).float().mean()), 4
        )
    return out


def lora_vs_frozen(train_every: int, dev_every: int, max_chunks: int, epochs: int) -> dict[str, object]:
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model

    from cmkd_med.data.tcga import TCGA_CLASSES, load_tcga
    from cmkd_med.evaluation.metrics import classification_metrics
    from cmkd_med.models.text_encoder import ChunkedTextEncoder, ChunkingConfig
    from cmkd_med.training.teacher import seed_everything

    train = load_tcga("train")[::train_every]
    dev = load_tcga("dev")[::dev_every]
    results: dict[str, object] = {
        "train_reports": len(train),
        "dev_reports": len(dev),
        "max_chunks": max_chunks,
    }
    for mode in ("frozen", "lora"):
        seed_everything(13)
        enc = ChunkedTextEncoder.from_spec(
            "bundled:minilm", ChunkingConfig(max_chunks=max_chunks, batch_size=16)
        )
        body = enc.model
        if mode == "lora":
            body = get_peft_model(
                body, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["query", "value"])
            )
        else:
            body.requires_grad_(False)
        head = torch.nn.Linear(enc.spec.hidden_size, len(TCGA_CLASSES))
        params = [p for p in body.parameters() if p.requires_grad] + list(head.parameters())
        opt = torch.optim.AdamW(params, lr=1e-3 if mode == "frozen" else 5e-4)
        y = {c: i for i, c in enumerate(TCGA_CLASSES)}

        def note_vectors(texts: list[str], train_mode: bool, enc=enc, body=body) -> torch.Tensor:
            vecs = []
            for text in texts:
                windows = enc.windows(text)
                ids = torch.nn.utils.rnn.pad_sequence(
                    [torch.tensor(w) for w in windows],
                    batch_first=True,
                    padding_value=enc.tokenizer.pad_token_id,
                )
                mask = (ids != enc.tokenizer.pad_token_id).long()
                with torch.set_grad_enabled(train_mode):
                    hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state  # (K, T, H)
                    pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)  # (K, H)
                    vecs.append(pooled.mean(0))
            return torch.stack(vecs)

        start = time.perf_counter()
        order = np.random.default_rng(13).permutation(len(train))
        for _ in range(epochs):
            body.train(mode == "lora")
            for s in range(0, len(order), 8):
                batch = [train[i] for i in order[s : s + 8]]
                logits = head(note_vectors([r.text for r in batch], True))
                loss = torch.nn.functional.cross_entropy(logits, torch.tensor([y[r.label] for r in batch]))
                opt.zero_grad()
                loss.backward()
                opt.step()
        train_s = time.perf_counter() - start
        body.eval()
        with torch.no_grad():
            probs = torch.softmax(head(note_vectors([r.text for r in dev], False)), -1).numpy()
        metrics = classification_metrics([r.label for r in dev], probs, list(TCGA_CLASSES))
        results[mode] = {
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "training_s": round(train_s, 1),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-every", type=int, default=6)
    parser.add_argument("--dev-every", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lora-train-every", type=int, default=15)
    parser.add_argument("--lora-max-chunks", type=int, default=4)
    parser.add_argument("--lora-epochs", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=[], choices=["quality", "tico", "lora"])
    args = parser.parse_args()
    result: dict[str, object] = {}
    if "quality" not in args.skip:
        result["quality"] = {
            m: heads_quality(m, args.train_every, args.dev_every, args.epochs)
            for m in ("bundled:minilm", "bundled:e5-small")
        }
    if "tico" not in args.skip:
        result["distillability_tico19_recall_at_1"] = {
            m: tico_distillability(m) for m in ("bundled:minilm", "bundled:e5-small")
        }
    if "lora" not in args.skip:
        result["lora_vs_frozen_minilm"] = lora_vs_frozen(
            args.lora_train_every, args.dev_every, args.lora_max_chunks, args.lora_epochs
        )
    save("teacher_compare.json", {"data": "tcga_reports train/dev subsets; tico19/dev.tsv", **result})


if __name__ == "__main__":
    main()
