"""Patient and clinician summaries by controlled generation from the prediction and the ontology only.

Nothing is generated freely: a summary is a fixed template per language whose slots are filled with the
predicted class concept's lay term and lay definition (from the ontology) and the model's own probability;
the clinician summary adds the concept's codes and the concepts the linker found in the note. So every
medical statement traces to the prediction, the found entities or the ontology, and
:func:`summarize_result` returns the CUIs it cites so a caller (and the tests) can check that mechanically.
When the classifier abstained the summary says the result is unclear and must be reviewed, and names no
diagnosis.

Provenance of the templates: written by the cmkd-med team (English and Portuguese by fluent speakers; Hindi
and Swahili drafted by the team from plain-language health-communication phrasing), awaiting review by
native-speaking clinicians, as the Hindi and Swahili ontology labels are.
"""

from __future__ import annotations

from typing import Any

from cmkd_med.errors import InvalidInputError
from cmkd_med.languages import normalize_lang

AUDIENCES = ("patient", "clinician")

# Slot names: {term} lay term, {definition} lay definition, {sure} a certainty phrase, {pct} the model's
# probability in percent.
TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "found": "What the report describes: the computer reading of this report points to {term}. "
        "{definition}",
        "sure": "How sure: the model is {sure} about this reading (its own estimate: {pct}%).",
        "very": "very sure",
        "fairly": "fairly sure",
        "not_very": "not very sure",
        "unclear": "The computer reading of this report is unclear, so no result is given here. "
        "A clinician must review the report.",
        "not_said": "What this summary does not say: it is not a diagnosis, and it says nothing about the "
        "stage of the illness, its treatment or what will happen next.",
        "advice": "Please talk with your care team about these results; they know your whole situation.",
    },
    "pt": {
        "found": "O que o laudo descreve: a leitura automática deste laudo indica {term}. {definition}",
        "sure": "Grau de certeza: o modelo está {sure} desta leitura (estimativa do próprio modelo: {pct}%).",
        "very": "muito seguro",
        "fairly": "razoavelmente seguro",
        "not_very": "pouco seguro",
        "unclear": "A leitura automática deste laudo não é clara, por isso nenhum resultado é dado aqui. "
        "Um profissional de saúde precisa revisar o laudo.",
        "not_said": "O que este resumo não diz: não é um diagnóstico e não diz nada sobre o estágio da "
        "doença, o tratamento ou o que vai acontecer.",
        "advice": "Converse com a sua equipe de saúde sobre estes resultados; ela conhece a sua situação "
        "completa.",
    },
    "hi": {
        "found": "रिपोर्ट में क्या बताया गया है: कंप्यूटर द्वारा इस रिपोर्ट को पढ़ने पर {term} का संकेत मिलता है। "
        "{definition}",
        "sure": "कितना पक्का: मॉडल इस नतीजे को लेकर {sure} है (मॉडल का अपना अनुमान: {pct}%)।",
        "very": "बहुत पक्का",
        "fairly": "काफ़ी हद तक पक्का",
        "not_very": "ज़्यादा पक्का नहीं",
        "unclear": "कंप्यूटर द्वारा इस रिपोर्ट को पढ़ने का नतीजा साफ़ नहीं है, इसलिए यहाँ कोई नतीजा नहीं दिया गया है। "
        "किसी डॉक्टर को यह रिपोर्ट देखनी होगी।",
        "not_said": "यह सारांश क्या नहीं बताता: यह निदान नहीं है, और इसमें बीमारी की अवस्था, इलाज या आगे क्या होगा, "
        "इसके बारे में कुछ नहीं कहा गया है।",
        "advice": "कृपया इन नतीजों के बारे में अपनी देखभाल टीम से बात करें; वे आपकी पूरी स्थिति जानते हैं।",
    },
    "sw": {
        "found": "Ripoti inaeleza nini: usomaji wa kompyuta wa ripoti hii unaonyesha {term}. {definition}",
        "sure": "Uhakika: modeli {sure} kuhusu usomaji huu (makadirio yake yenyewe: {pct}%).",
        "very": "ina uhakika mkubwa",
        "fairly": "ina uhakika wa wastani",
        "not_very": "haina uhakika mkubwa",
        "unclear": "Usomaji wa kompyuta wa ripoti hii hauko wazi, kwa hiyo hakuna matokeo yanayotolewa hapa. "
        "Daktari anapaswa kuikagua ripoti hii.",
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


def summarize_result(
    result: dict[str, Any], kb: Any, audience: str = "patient", lang: str | None = None
) -> dict:
    """A summary of one :meth:`Pipeline.classify` result: ``text``, ``lang``, ``audience``, ``abstained``,
    ``label`` (``None`` when abstained) and ``concepts`` — every CUI the text names."""
    if audience not in AUDIENCES:
        raise InvalidInputError(f"unknown audience {audience!r}; use one of {', '.join(AUDIENCES)}")
    missing = {"label", "probability", "abstained", "entities", "lang"} - set(result)
    if missing:
        raise InvalidInputError(f"not a classify result: missing {', '.join(sorted(missing))}")
    lang = normalize_lang(lang or result["lang"])
    concept = kb.class_concept(result["label"])
    if audience == "clinician":
        text, cited = _clinician(
            result, concept, _other_entities(result["entities"], concept.cui, kb), kb, lang
        )
    else:
        text, cited = _patient(result, concept, lang)
    return {
        "text": text,
        "lang": lang,
        "audience": audience,
        "abstained": bool(result["abstained"]),
        "label": None if result["abstained"] else result["label"],
        "concepts": cited,
    }


def _other_entities(entities: list[dict[str, Any]], predicted: str, kb: Any) -> list[str]:
    """Distinct CUIs of the found entities other than the predicted concept."""
    return [c for c in dict.fromkeys(str(e["cui"]) for e in entities) if c != predicted and c in kb]


def _patient(result: dict, concept: Any, lang: str) -> tuple[str, list[str]]:
    """The predicted concept only, in lay words. The other concepts found in the note are left out: the
    linker does not detect negation ("no metastasis" still links metastasis), so listing them could tell a
    patient of a finding the report rules out. Clinicians get them, marked as mentions."""
    t = TEMPLATES[lang]
    if result["abstained"]:  # no diagnosis named: the reading is unclear
        return " ".join([t["unclear"], t["not_said"], t["advice"]]), []
    lay = concept.lay_text(lang) or concept.lay_text("en")
    term = lay.term if lay is not None else concept.preferred(lang)
    definition = lay.definition if lay is not None else ""
    probability = float(result["probability"])
    parts = [
        t["found"].format(term=term, definition=definition).strip(),
        t["sure"].format(sure=t[certainty_key(probability)], pct=round(100 * probability)),
        t["not_said"],
        t["advice"],
    ]
    return " ".join(parts), [concept.cui]


def _clinician(result: dict, concept: Any, others: list[str], kb: Any, lang: str) -> tuple[str, list[str]]:
    codes = [f"{s} {concept.code(s)}" for s in CODE_SYSTEMS if concept.code(s)]
    entity_line = "; ".join(f"{kb[c].preferred(lang)} [{c}]" for c in others) or "none"
    if result["abstained"]:
        lines = [
            f"Prediction: ABSTAINED (uncertainty {result.get('uncertainty', 0):.2f} above the threshold) — "
            "manual review required.",
            f"Mentions (negation not detected): {entity_line}",
        ]
        return "\n".join(lines), others
    label_en = concept.preferred("en")
    label = concept.preferred(lang)
    names = label if label == label_en else f"{label} / {label_en}"
    lines = [
        f"Prediction: {result['label']} — {names}",
        f"Codes: UMLS {concept.cui}" + (", " + ", ".join(codes) if codes else ""),
        f"Probability {float(result['probability']):.2f}, uncertainty "
        f"{float(result.get('uncertainty', 0)):.2f}; automatic reading, to be verified against the report.",
        f"Mentions (negation not detected): {entity_line}",
    ]
    return "\n".join(lines), [concept.cui, *others]
