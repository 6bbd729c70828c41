"""Patient and clinician summaries by controlled generation from the prediction and the ontology only.

Nothing is generated freely: a summary is a fixed template per language whose slots are filled with the
predicted class concept's lay term and lay definition (from the ontology) and the model's own probability;
the clinician summary adds the concept's codes and the concepts the linker found in the note, with their
assertion status. So every medical statement traces to the prediction, the found entities or the ontology,
and :func:`summarize_result` returns the CUIs it cites so a caller (and the tests) can check that mechanically.

A patient summary never presents the model's guess as what the report says: it is headed as the computer's
reading, which can be wrong; the probability is given as the program's own estimate among the cancer types it
knows (never "100 %"), not as the chance of having cancer. When the note is out of scope (benign, negative,
another cancer, unclear) or the model abstained, no cancer type is named at all.

Provenance of the templates: written by the cmkd-med team (English and Portuguese by fluent speakers; Hindi
and Swahili drafted by the team from plain-language health-communication phrasing); the Hindi and Swahili ones
are marked ``curated, unreviewed`` (``provenance`` below) until a native-speaking clinician reviews them.
"""

from __future__ import annotations

from typing import Any

from cmkd_med.errors import InvalidInputError, OntologyError
from cmkd_med.languages import normalize_lang

AUDIENCES = ("patient", "clinician")

# Slot names: {term} lay term, {definition} lay definition, {sure} a certainty phrase, {pct} the model's
# probability in words ("87%", "more than 99%"). Sentences are kept whole on one line each (four scripts).
TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "provenance": "curated",
        "found": "The computer's reading (it can be wrong): this report points to {term}. {definition}",
        "sure": "How sure: the program is {sure} about this reading (its own estimate: {pct}). "
        "The figure only compares the cancer types the program knows; it is not the chance that you have cancer.",
        "very": "very sure",
        "fairly": "fairly sure",
        "not_very": "not very sure",
        "over": "more than 99%",
        "unclear": "The computer's reading (it can be wrong): the reading of this report is unclear, "
        "so no result is given here. A clinician must review the report.",
        "out_of_scope": "The computer's reading (it can be wrong): "
        "the program could not match this report to the cancer types it reads. "
        "This is neither a diagnosis nor a reassurance. Your care team will explain the result.",
        "not_said": "What this summary does not say: it is not a diagnosis, and it says nothing about the "
        "stage of the illness, its treatment or what will happen next.",
        "advice": "Please talk with your care team about these results; they know your whole situation.",
    },
    "pt": {
        "provenance": "curated",
        "found": "Leitura do computador (pode estar errada): este laudo aponta para {term}. {definition}",
        "sure": "Grau de certeza: o programa está {sure} desta leitura (estimativa do próprio programa: {pct}). "
        "Esse número só compara os tipos de câncer que o programa conhece; não é a chance de você ter câncer.",
        "very": "muito seguro",
        "fairly": "razoavelmente seguro",
        "not_very": "pouco seguro",
        "over": "mais de 99%",
        "unclear": "Leitura do computador (pode estar errada): a leitura deste laudo não é clara, "
        "por isso nenhum resultado é dado aqui. Um profissional de saúde precisa revisar o laudo.",
        "out_of_scope": "Leitura do computador (pode estar errada): "
        "o programa não conseguiu relacionar este laudo aos tipos de câncer que ele lê. "
        "Isto não é um diagnóstico nem uma garantia de que está tudo bem. "
        "A sua equipe de saúde vai explicar o resultado.",
        "not_said": "O que este resumo não diz: não é um diagnóstico e não diz nada sobre o estágio da "
        "doença, o tratamento ou o que vai acontecer.",
        "advice": "Converse com a sua equipe de saúde sobre estes resultados; "
        "ela conhece a sua situação completa.",
    },
    "hi": {
        "provenance": "curated, unreviewed",
        # No "{term} का ...": the genitive needs the oblique "के" after most terms; the term stands alone.
        "found": "कंप्यूटर का अनुमान (गलत भी हो सकता है): "
        "कंप्यूटर के अनुसार यह रिपोर्ट इस ओर इशारा करती है — {term}। {definition}",
        "sure": "कितना पक्का: प्रोग्राम इस नतीजे को लेकर {sure} है (प्रोग्राम का अपना अनुमान: {pct})। "
        "यह आंकड़ा केवल उन कैंसर प्रकारों की आपस में तुलना करता है जिन्हें प्रोग्राम जानता है; "
        "यह आपको कैंसर होने की संभावना नहीं है।",
        "very": "बहुत पक्का",
        "fairly": "काफ़ी हद तक पक्का",
        "not_very": "ज़्यादा पक्का नहीं",
        "over": "99% से अधिक",
        "unclear": "कंप्यूटर का अनुमान (गलत भी हो सकता है): इस रिपोर्ट को पढ़ने का नतीजा साफ़ नहीं है, "
        "इसलिए यहाँ कोई नतीजा नहीं दिया गया है। किसी डॉक्टर को यह रिपोर्ट देखनी होगी।",
        "out_of_scope": "कंप्यूटर का अनुमान (गलत भी हो सकता है): "
        "प्रोग्राम इस रिपोर्ट को उन कैंसर प्रकारों से नहीं मिला सका जिन्हें वह पढ़ता है। "
        "यह न तो निदान है और न ही यह भरोसा कि सब ठीक है। आपकी देखभाल टीम आपको नतीजा समझाएगी।",
        "not_said": "यह सारांश क्या नहीं बताता: यह निदान नहीं है, और इसमें बीमारी की अवस्था, "
        "इलाज या आगे क्या होगा, इसके बारे में कुछ नहीं कहा गया है।",
        "advice": "कृपया इन नतीजों के बारे में अपनी देखभाल टीम से बात करें; वे आपकी पूरी स्थिति जानते हैं।",
    },
    "sw": {
        "provenance": "curated, unreviewed",
        "found": "Makisio ya kompyuta (yanaweza kuwa si sahihi): ripoti hii inaashiria {term}. {definition}",
        "sure": "Uhakika: programu {sure} kuhusu usomaji huu (makadirio yake yenyewe: {pct}). "
        "Tarakimu hii inalinganisha tu aina za saratani ambazo programu inazijua; "
        "si uwezekano wa wewe kuwa na saratani.",
        "very": "ina uhakika mkubwa",
        "fairly": "ina uhakika wa wastani",
        "not_very": "haina uhakika mkubwa",
        "over": "zaidi ya 99%",
        "unclear": "Makisio ya kompyuta (yanaweza kuwa si sahihi): usomaji wa ripoti hii hauko wazi, "
        "kwa hiyo hakuna matokeo yanayotolewa hapa. Daktari anapaswa kuikagua ripoti hii.",
        "out_of_scope": "Makisio ya kompyuta (yanaweza kuwa si sahihi): "
        "programu haikuweza kuilinganisha ripoti hii na aina za saratani inazozisoma. "
        "Huu si utambuzi wa ugonjwa, wala si uhakikisho kwamba hakuna tatizo. "
        "Timu yako ya matibabu itakueleza matokeo.",
        "not_said": "Muhtasari huu hausemi nini: si utambuzi wa ugonjwa, na hausemi chochote kuhusu hatua ya "
        "ugonjwa, matibabu au kitakachotokea baadaye.",
        "advice": "Tafadhali zungumza na timu yako ya matibabu kuhusu matokeo haya; wanaijua hali yako yote.",
    },
}

# Codes shown to clinicians, in this order, when the ontology has them.
CODE_SYSTEMS = ("ICD10", "ICDO", "ONCOTREE", "DOID", "MONDO", "NCIT")


def certainty_key(probability: float) -> str:
    """Plain-words bucket of a calibrated probability (≥ 0.9 very, ≥ 0.7 fairly, else not very sure)."""
    return "very" if probability >= 0.9 else "fairly" if probability >= 0.7 else "not_very"


def percent_text(probability: float, lang: str) -> str:
    """The model's probability in words: never "100%" (above 0.99: "more than 99%" in ``lang``)."""
    if probability > 0.99:
        return TEMPLATES[lang]["over"]
    return f"{min(99, round(100 * probability))}%"


def names_a_class(result: dict[str, Any]) -> bool:
    """Whether a classify result may name its class: in scope, a label, not abstained."""
    return (
        result.get("scope", "supported") == "supported"
        and result.get("label") is not None
        and not result.get("abstained", True)
    )


def summarize_result(
    result: dict[str, Any], kb: Any, audience: str = "patient", lang: str | None = None
) -> dict:
    """A summary of one :meth:`Pipeline.classify` result: ``text``, ``lang``, ``audience``, ``abstained``,
    ``label`` (``None`` unless a class is named), ``scope``, ``concepts`` — every CUI the text names — and the ``provenance`` of the template."""
    if audience not in AUDIENCES:
        raise InvalidInputError(f"unknown audience {audience!r}; use one of {', '.join(AUDIENCES)}")
    if not isinstance(result, dict):
        raise InvalidInputError(f"summarize takes a note or a classify result, got {type(result).__name__}")
    missing = {"label", "probability", "abstained", "entities", "lang"} - set(result)
    if missing:
        raise InvalidInputError(f"not a classify result: missing {', '.join(sorted(missing))}")
    label = result["label"]
    if label is not None:
        try:
            kb.class_concept(label if isinstance(label, str) else "")
        except OntologyError:
            raise InvalidInputError(f"not a classify result: unknown label {label!r}") from None
    lang = normalize_lang(lang or result["lang"])
    named = names_a_class(result)
    concept = kb.class_concept(label) if named else None
    if audience == "clinician":
        text, cited = _clinician(result, concept, kb, lang)
    else:
        text, cited = _patient(result, concept, lang)
    return {
        "text": text,
        "lang": lang,
        "audience": audience,
        "abstained": not named,
        "label": label if named else None,
        "scope": result.get("scope"),
        "concepts": cited,
        "provenance": TEMPLATES[lang]["provenance"],
    }


def _entity_cuis(result: dict[str, Any], kb: Any, leave_out: str | None) -> list[str]:
    """Distinct CUIs of the found entities (but ``leave_out``)."""
    cuis = dict.fromkeys(str(e.get("cui")) for e in result["entities"] if isinstance(e, dict))
    return [c for c in cuis if c != leave_out and c in kb]


def _patient(result: dict, concept: Any, lang: str) -> tuple[str, list[str]]:
    """The predicted concept only, in lay words. The other concepts found in the note are left out: a patient summary repeats no finding (negated or not) that a clinician has not explained. Out of scope or abstained:
    no cancer type at all."""
    t = TEMPLATES[lang]
    if concept is None:
        scope = result.get("scope")
        lead = t["out_of_scope"] if scope not in (None, "supported") else t["unclear"]
        parts = [lead, t["advice"]] if scope not in (None, "supported") else [lead, t["not_said"],
        t["advice"]]
        return " ".join(parts), []
    lay = concept.lay_text(lang) or concept.lay_text("en")
    term = lay.term if lay is not None else concept.preferred(lang)
    definition = lay.definition if lay is not None else ""
    probability = float(result["probability"])
    parts = [
        t["found"].format(term=term, definition=definition).strip(),
        t["sure"].format(sure=t[certainty_key(probability)], pct=percent_text(probability, lang)),
        t["not_said"],
        t["advice"],
    ]
    return " ".join(parts), [concept.cui]


def _mention_line(result: dict, cuis: list[str], kb: Any, lang: str) -> str:
    status = {str(e.get("cui")): e.get("assertion") for e in result["entities"] if isinstance(e, dict)}
    if not any(status.values()):
        return "Mentions (assertion not detected): " + (
            "; ".join(f"{kb[c].preferred(lang)} [{c}]" for c in cuis) or "none"
        )
    return "Mentions: " + (
        "; ".join(f"{kb[c].preferred(lang)} [{c}] ({status.get(c) or 'affirmed'})" for c in cuis) or "none"
    )


def _clinician(result: dict, concept: Any, kb: Any, lang: str) -> tuple[str, list[str]]:
    others = _entity_cuis(result, kb, concept.cui if concept is not None else None)
    mentions = _mention_line(result, others, kb, lang)
    if concept is None:
        scope = result.get("scope") or "supported"
        if scope == "supported":
            head = (
                f"Prediction: ABSTAINED (uncertainty {float(result.get('uncertainty') or 0):.2f} above the "
                "threshold) — manual review required."
            )
        else:
            reason = result.get("scope_reason") or "n/a"
            head = f"Scope: {scope} ({reason}) — no cancer type named; manual review required."
        return "\n".join([head, mentions]), others
    codes = [f"{s} {concept.code(s)}" for s in CODE_SYSTEMS if concept.code(s)]
    label_en = concept.preferred("en")
    label = concept.preferred(lang)
    names = label if label == label_en else f"{label} / {label_en}"
    lines = [
        f"Prediction: {result['label']} — {names}",
        f"Codes: UMLS {concept.cui}" + (", " + ", ".join(codes) if codes else ""),
        f"Probability {float(result['probability']):.2f}, uncertainty "
        f"{float(result.get('uncertainty') or 0):.2f}; automatic reading, to be verified against the report.",
        mentions,
    ]
    return "\n".join(lines), [concept.cui, *others]
