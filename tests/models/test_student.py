"""The student model on a tiny base: identity at initialisation, entity attention, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cmkd_med.errors import CmkdError, DataFormatError
from cmkd_med.models.providers import load_encoder
from cmkd_med.models.student import NULL_CONCEPT, EntityAttention, StudentConfig, StudentModel
from cmkd_med.models.teacher import TeacherEnsemble, TeacherInputs, pad_chunks
from cmkd_med.models.text_encoder import ChunkedTextEncoder


def _student(tiny_models: tuple[Path, Path], entity: bool = True) -> tuple[StudentModel, ChunkedTextEncoder]:
    encoder_dir, teacher_dir = tiny_models
    teacher = TeacherEnsemble.load(teacher_dir)
    base, _, _ = load_encoder(str(encoder_dir))
    config = StudentConfig(
        lang="pt", base_model=str(encoder_dir), text_dim=32, shared_dim=32, classes=teacher.config.classes,
        concepts=[NULL_CONCEPT, "C0000001", "C0000002"], lora_layers=1, entity_attention=entity,
    )  # fmt: skip
    torch.manual_seed(0)
    model = StudentModel(config, base)
    model.init_from_teacher(teacher.members[0].state_dict(), torch.randn(3, 32))
    return model.eval(), ChunkedTextEncoder.from_spec(str(encoder_dir))


def _batch(
    windower: ChunkedTextEncoder, texts: list[str], concepts: list[list[int]]
) -> tuple[torch.Tensor, ...]:
    from cmkd_med.training.distill import Encoded, collate

    enc = Encoded([windower.windows(t)[0] for t in texts], concepts)
    return collate(enc, list(range(len(texts))), windower.tokenizer.pad_token_id)


def test_fresh_student_equals_its_base_and_the_teacher_heads(tiny_models: tuple[Path, Path]) -> None:
    model, windower = _student(tiny_models)
    texts = ["carcinoma urotelial de alto grau", "adenocarcinoma of the lung"]
    ids, mask, cids, cmask = _batch(windower, texts, [[1, 2], []])
    with torch.no_grad():
        ours = model.encode_windows(ids, mask, cids, cmask)
    base = torch.stack([c[0] for c in windower.encode(texts)])  # the frozen base's window vectors
    assert torch.allclose(ours, base, atol=1e-5)  # LoRA B and the attention output start at zero
    teacher = TeacherEnsemble.load(tiny_models[1]).members[0].eval()
    chunks, cmask2 = pad_chunks([c for c in windower.encode(texts)])
    with torch.no_grad():
        z, logits = model.heads(chunks, cmask2)
        t = teacher(TeacherInputs(chunks, cmask2))
    assert torch.allclose(z, t["text"], atol=1e-5) and torch.allclose(logits, t["logits"], atol=1e-5)


def test_entity_attention_uses_the_concepts_once_trained() -> None:
    torch.manual_seed(0)
    attn = EntityAttention(hidden=16, concept_dim=8, heads=2)
    states = torch.randn(2, 5, 16)
    concepts, mask = torch.randn(2, 3, 8), torch.tensor([[True, True, False], [False, False, False]])
    assert torch.equal(attn(states, concepts, mask), states)  # zero-initialised output: identity
    torch.nn.init.normal_(attn.attn.out_proj.weight)
    out = attn(states, concepts, mask)
    assert not torch.allclose(out, states)
    changed = concepts.clone()
    changed[0, 2] = 100.0  # a masked concept slot must not matter
    changed[1] = -5.0  # nor any slot of a note without concepts (it attends to the null slot only)
    assert torch.allclose(attn(states, changed, mask), out, atol=1e-5)
    assert not torch.isnan(out).any()


def test_only_lora_and_heads_train_and_survive_a_round_trip(
    tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    model, windower = _student(tiny_models)
    trainable = set(model.trainable_state())
    assert trainable and all(("lora_" in k) or not k.startswith("encoder.") for k in trainable)
    assert any("lora_" in k for k in trainable)
    with torch.no_grad():  # move every trained tensor so the round trip is not trivially the init
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    model.save(tmp_path)
    loaded = StudentModel.load(tmp_path)
    ids, mask, cids, cmask = _batch(windower, ["carcinoma"], [[1]])
    with torch.no_grad():
        a = model.encode_windows(ids, mask, cids, cmask)
        b = loaded.encode_windows(ids, mask, cids, cmask)
    assert torch.allclose(a, b, atol=2e-3)  # weights are stored in float16


def test_load_rejects_missing_or_mismatched_weights(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(CmkdError, match="no student"):
        StudentModel.load(tmp_path)
    model, _ = _student(tiny_models)
    model.save(tmp_path)
    config = StudentConfig.load(tmp_path)
    config.entity_attention = False
    config.save(tmp_path)
    with pytest.raises(DataFormatError, match="do not match"):
        StudentModel.load(tmp_path)


def test_cached_lower_layers_then_upper_equals_the_full_forward(tiny_models: tuple[Path, Path]) -> None:
    model, windower = _student(tiny_models)
    with torch.no_grad():  # give LoRA a non-zero update so the upper layers really differ from the base
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    ids, mask, cids, cmask = _batch(
        windower, ["carcinoma urotelial", "a much longer note about the lung"], [[1], []]
    )
    assert model.splittable and model.split == 1
    with torch.no_grad():
        full = model(ids, mask, cids, cmask)
        split = model(model.lower(ids, mask), mask, cids, cmask)
    assert torch.allclose(full[0], split[0], atol=1e-5) and torch.allclose(full[1], split[1], atol=1e-5)


def test_a_base_of_another_width_keeps_only_the_teachers_classifier(tiny_models: tuple[Path, Path]) -> None:
    encoder_dir, teacher_dir = tiny_models
    teacher = TeacherEnsemble.load(teacher_dir)
    base, _, _ = load_encoder(str(encoder_dir))
    config = StudentConfig(text_dim=32, shared_dim=32, classes=teacher.config.classes, lora_layers=1)
    model = StudentModel(config, base)
    state = teacher.members[0].state_dict()
    # a pooling that does not fit (another width) beside one that does: a head is copied whole or not at all
    state = {**state, "text_pool.score.0.weight": torch.zeros(128, 48)}
    with pytest.raises(CmkdError, match="partly"):  # a head is copied whole or not at all
        model.init_from_teacher(state, torch.zeros(1, 32))
    wide = {k: v for k, v in state.items() if not k.startswith("text_")}
    assert model.init_from_teacher(wide, torch.zeros(1, 32)) == ["classifier"]


def test_batched_mc_samples_are_the_heads_sampled(tiny_models: tuple[Path, Path]) -> None:
    model, windower = _student(tiny_models)
    chunks, mask = pad_chunks(windower.encode(["carcinoma urotelial", "adenocarcinoma of the lung lobe"]))
    with torch.no_grad():
        off = model.mc_logits(chunks, mask, 4)  # dropout off: every sample is the plain heads' output
        assert off.shape == (4, 2, len(model.config.classes))
        assert torch.allclose(off, model.heads(chunks, mask)[1].expand(4, -1, -1), atol=1e-6)
        from cmkd_med.models.teacher import enable_mc_dropout

        enable_mc_dropout(model)
        torch.manual_seed(0)
        on = model.mc_logits(chunks, mask, 4)
        model.eval()
    assert not torch.allclose(on[0], on[1])  # each sample draws its own dropout masks


def test_runtime_load_merges_lora_without_changing_outputs(
    tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    from cmkd_med.models.student_runtime import Student

    model, windower = _student(tiny_models, entity=False)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.05 * torch.randn_like(p))  # a non-zero LoRA update to merge
    model.save(tmp_path)
    unmerged = StudentModel.load(tmp_path).eval()
    runtime = Student.load(tmp_path)
    assert any(getattr(m, "merged", False) for m in runtime.model.modules())
    ids, mask, cids, cmask = _batch(windower, ["carcinoma urotelial de alto grau"], [[]])
    with torch.no_grad():
        a = unmerged.encode_windows(ids, mask, cids, cmask)
        b = runtime.model.encode_windows(ids, mask, cids, cmask)
    assert torch.allclose(a, b, atol=1e-5)
