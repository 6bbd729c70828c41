"""The Pipeline on the committed adapters and the project's example notes: routing, result fields,
abstention, summaries that say nothing unsupported, retrieval, no network, no note text in logs."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from cmkd_med import pipeline
from cmkd_med.api import Pipeline, detect_language
from cmkd_med.config import PROJECT_ROOT
from cmkd_med.errors import InvalidInputError, UnsupportedLanguageError

# The cancer example notes, one a language (the benign ones, which name no cancer, are in test_scope.py).
BENIGN_NOTES = {
    "en_benign_prostate.txt", "pt_benigno_colo.txt", "hi_saumya_garbhashay.txt", "sw_tezi_limfu.txt",
}  # fmt: skip
NOTES = {
    p.name[:2]: p.read_text(encoding="utf-8")
    for p in sorted((PROJECT_ROOT / "examples/notes").glob("*.txt"))
    if p.name not in BENIGN_NOTES
}
FIELDS = {
    "label", "concept", "probability", "probabilities", "uncertainty", "abstained", "entities", "lang",
    "scope", "scope_reason", "ood_score",
}  # fmt: skip


@pytest.fixture(scope="module")
def nlp() -> Pipeline:
    from cmkd_med.demo import demo_index

    return pipeline("auto", index=demo_index(progress=False))


@pytest.fixture(scope="module")
def results(nlp: Pipeline) -> dict[str, dict[str, Any]]:
    out = nlp.classify(list(NOTES.values()))
    assert isinstance(out, list)
    return dict(zip(NOTES, out, strict=True))


def test_language_codes_aliases_and_errors() -> None:
    assert pipeline("por").lang == "pt" and pipeline("HIN").lang == "hi" and pipeline("swa").lang == "sw"
    assert pipeline("eng").lang == "en" and pipeline().lang == "auto"
    with pytest.raises(UnsupportedLanguageError, match="supported: en, pt, hi, sw"):
        pipeline("fr")
    with pytest.raises(InvalidInputError):
        pipeline("pt", batch_size=0)
    with pytest.raises(InvalidInputError):
        pipeline("auto", adapter=PROJECT_ROOT / "adapters" / "pt")
    with pytest.raises(UnsupportedLanguageError, match="French"):
        detect_language("Le patient présente une tumeur du rein, sans métastase ganglionnaire.")


def test_classify_routes_each_note_and_fills_every_field(results: dict[str, dict[str, Any]]) -> None:
    for lang, result in results.items():
        assert set(result) == FIELDS and result["lang"] == lang
        assert result["concept"]["cui"].startswith("C") and result["concept"]["codes"]["ONCOTREE"]
        probs = [p["probability"] for p in result["probabilities"]]
        assert (
            probs == sorted(probs, reverse=True)
            and probs[0] == result["probability"]
            and sum(probs) <= 1.0001
        )
        assert result["uncertainty"] == pytest.approx(1 - result["probability"], abs=1e-3)
        for e in result["entities"]:
            assert NOTES[lang][e["start"] : e["end"]] == e["text"] and e["cui"].startswith("C")
            assert e["assertion"] in {"affirmed", "negated", "possible", "historical", "family"}
        assert result["scope"] == "supported", (lang, result["scope_reason"])
    # The example notes describe a kidney, a lung (en), a bladder (pt), a lung (hi) and a liver (sw) cancer.
    assert results["pt"]["label"] == "BLCA" and results["hi"]["label"] in {"LUAD", "LUSC"}
    assert results["sw"]["label"] in {"LIHC", "CHOL"}
    assert results["hi"]["concept"]["label"] != results["hi"]["concept"]["label_en"]  # in Devanagari


def test_single_note_gives_a_dict_and_bad_notes_fail_clearly(nlp: Pipeline) -> None:
    assert isinstance(nlp.classify(NOTES["pt"]), dict)
    for bad in ("", "   ", 42, None):
        with pytest.raises(InvalidInputError):
            nlp.classify(bad)  # type: ignore[arg-type]


def test_device_option(results: dict[str, dict[str, Any]]) -> None:
    import torch

    bad_devices = [("gpu", "not a torch device"), ("cuda:x", "not a torch device"), (None, "not a torch")]
    for bad, message in [*bad_devices, ("meta", "supported kinds")]:
        with pytest.raises(InvalidInputError, match=message):
            pipeline("pt", device=bad)
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="not available on this machine"):
            pipeline("pt", device="cuda")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # the GPU path where there is one
    for device in devices:
        nlp = pipeline("auto", device=device)
        for lang in ("en", "pt"):
            got = nlp.classify(NOTES[lang])
            assert got["label"] == results[lang]["label"]
            assert got["probability"] == pytest.approx(results[lang]["probability"], abs=1e-3)


def test_precision_option(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from cmkd_med.models import text_encoder

    assert text_encoder.autocast_dtype("float32", "cpu") is None
    assert text_encoder.autocast_dtype("bfloat16", "cpu") is torch.bfloat16
    for native in (True, False):  # auto follows the hardware probe
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda native=native: native)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        assert text_encoder.autocast_dtype("auto", "cpu") is (torch.bfloat16 if native else None)
    with pytest.raises(InvalidInputError, match="precision 'half'"):
        pipeline("pt", precision="half")
    exact, fast = pipeline("auto", precision="float32"), pipeline("auto", precision="bfloat16")
    for lang in ("en", "pt"):
        a, b = exact.classify(NOTES[lang]), fast.classify(NOTES[lang])
        assert a["label"] == b["label"]
        assert a["probability"] == pytest.approx(b["probability"], abs=0.02)
    assert exact.model("pt").dtype is None and exact.model("en").encoder.dtype is None
    assert fast.model("pt").dtype is torch.bfloat16 and fast.model("en").encoder.dtype is torch.bfloat16


def test_abstention_threshold_option() -> None:
    strict, lenient = pipeline("pt", abstain_threshold=0.0), pipeline("pt", abstain_threshold=1.0)
    assert strict.classify(NOTES["pt"])["abstained"] is True
    assert lenient.classify(NOTES["pt"])["abstained"] is False


def _allowed_concepts(result: dict[str, Any], nlp: Pipeline, lang: str) -> set[str]:
    """What a summary may name: the prediction, the found entities, and what the ontology's own lay text of
    the predicted concept names."""
    concept = nlp.kb.class_concept(result["label"])
    allowed = {concept.cui, *(e["cui"] for e in result["entities"])}
    for lay in concept.lay:
        allowed |= {m.cui for m in nlp.linker(lang).link(f"{lay.term}. {lay.definition}")}
    return allowed


@pytest.mark.parametrize("audience", ["patient", "clinician"])
def test_summaries_name_only_predicted_found_or_ontology_concepts(
    nlp: Pipeline, results: dict[str, dict[str, Any]], audience: str
) -> None:
    for lang, result in results.items():
        summary = nlp.summarize(result, audience=audience)
        assert summary["lang"] == lang and summary["audience"] == audience
        allowed = _allowed_concepts(result, nlp, lang)
        assert set(summary["concepts"]) <= allowed
        named = {m.cui for m in nlp.linker(lang).link(summary["text"])}
        assert named <= allowed, f"{lang} {audience} summary names {named - allowed}"
        if audience == "patient" and not result["abstained"]:
            lay = nlp.kb.class_concept(result["label"]).lay_text(lang)
            assert lay is not None and lay.term in summary["text"]


def test_abstained_summary_says_unclear_and_names_no_diagnosis() -> None:
    unsure = pipeline("sw", abstain_threshold=0.0)
    summary = unsure.summarize(NOTES["sw"])
    assert summary["abstained"] and summary["label"] is None and summary["concepts"] == []
    assert "hauko wazi" in summary["text"]  # "is not clear"
    lay = unsure.kb.class_concept(unsure.classify(NOTES["sw"])["label"]).lay_text("sw")
    assert lay.term not in summary["text"]
    in_english = unsure.summarize(NOTES["sw"], lang="en")
    assert in_english["lang"] == "en" and "unclear" in in_english["text"]


def test_summarize_rejects_bad_requests(nlp: Pipeline, results: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(InvalidInputError, match="audience"):
        nlp.summarize(results["en"], audience="family")
    with pytest.raises(InvalidInputError, match="classify result"):
        nlp.summarize({"label": "KIRC"})
    with pytest.raises(UnsupportedLanguageError):
        nlp.summarize(results["en"], lang="de")


def test_cross_lingual_and_cross_modal_retrieval(nlp: Pipeline) -> None:
    hits = nlp.retrieve(NOTES["hi"], k=5)
    assert len(hits) == 5 and [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    reports = nlp.retrieve(NOTES["pt"], k=3, modality="text")
    assert all(h["modality"] == "text" for h in reports) and reports[0]["label"] == "BLCA"
    variants = nlp.retrieve(NOTES["hi"], k=2, modality="variants")
    assert all(h["modality"] == "variants" for h in variants) and variants[0]["label"] == "LUAD"
    with pytest.raises(InvalidInputError, match="index"):
        pipeline("pt").retrieve(NOTES["pt"])


def test_runs_with_the_network_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = pipeline("hi")  # loads the base model, the adapter and the ontology under the block
    result = fresh.classify(NOTES["hi"])
    assert fresh.summarize(result)["text"]


def test_note_text_never_reaches_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    marker = "Zebulon-Quixotic-7731"
    caplog.set_level(logging.DEBUG)
    nlp = pipeline("en")
    result = nlp.classify(f"Patient {marker}. Clear cell renal cell carcinoma, nephrectomy.")
    nlp.summarize(result, audience="clinician")
    with pytest.raises(InvalidInputError) as err:
        nlp.classify(marker * 20_000)  # too long: the message must not quote it
    out, errors = capfd.readouterr()
    assert marker not in caplog.text and marker not in errors and marker not in out
    assert marker not in str(err.value)


def test_base_model_option_takes_a_copy_of_the_same_base_and_refuses_another() -> None:
    from cmkd_med.errors import DataFormatError
    from cmkd_med.models.providers import resolve

    local_copy = str(resolve("bundled:e5-small").path)  # the same weights named by a folder
    same = pipeline("sw", base_model=local_copy).classify(NOTES["sw"])
    assert same == pipeline("sw").classify(NOTES["sw"])
    with pytest.raises(DataFormatError, match="not the base the adapter was trained on"):
        pipeline("sw", base_model="bundled:minilm").classify(NOTES["sw"])
