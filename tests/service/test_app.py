"""The service's routes through TestClient over a fake pipeline: single and batch bodies, per-request
language, FHIR, limits, API key, problem details without tracebacks or note text."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cmkd_med.fhir import parse_bundle
from cmkd_med.service import ServiceConfig, create_app
from cmkd_med.service.server import check_bind, is_loopback
from tests.service.fake import FakePipeline

KIDNEY = "Clear cell renal cell carcinoma, left kidney; no lung lesion."
MARKER = "Zebulon-Quixotic-7731"
KEY = "k" * 12 + "-secret-4821"


def _client(nlp: Any = None, **config: Any) -> Iterator[TestClient]:
    app = create_app(nlp or FakePipeline("auto", index="idx"), ServiceConfig(**config))
    with TestClient(app, raise_server_exceptions=False) as client:
        deadline = time.time() + 10
        while client.get("/readyz").status_code != 200 and time.time() < deadline:
            time.sleep(0.02)
        yield client


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    yield from _client(max_batch=4, max_body_bytes=4096)


def _is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and "Traceback" not in response.text
    return body


def test_health_ready_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["languages"] == ["en", "pt", "hi", "sw"]
    schema = client.get("/openapi.json").json()
    assert {"/v1/classify", "/v1/summarize", "/v1/retrieve", "/v1/link", "/healthz", "/readyz"} <= set(
        schema["paths"]
    )


def test_classify_one_note_and_a_batch_with_languages(client: TestClient) -> None:
    one = client.post("/v1/classify", json={"text": KIDNEY}).json()
    assert one["label"] == "KIRC" and one["lang"] == "en" and one["entities"]
    batch = client.post(
        "/v1/classify",
        json={"notes": [KIDNEY, {"text": "Saratani ya ini.", "lang": "swa", "id": "n2"}], "lang": "auto"},
    ).json()["results"]
    assert [r["label"] for r in batch] == ["KIRC", "LIHC"] and batch[1]["lang"] == "sw"
    assert batch[1]["id"] == "n2" and "id" not in batch[0]
    forced = client.post("/v1/classify", json={"text": KIDNEY, "lang": "pt"}).json()
    assert forced["lang"] == "pt"


def test_fhir_format(client: TestClient) -> None:
    one = client.post("/v1/classify?format=fhir", json={"text": KIDNEY})
    assert one.headers["content-type"].startswith("application/fhir+json")
    parse_bundle(one.json())
    many = client.post("/v1/summarize?format=fhir", json={"notes": [KIDNEY, {"text": KIDNEY, "id": "b"}]})
    outer = parse_bundle(many.json())
    assert len(outer.entry) == 2 and many.json()["entry"][1]["resource"]["entry"][0]["resource"]["identifier"]
    _is_problem(client.post("/v1/classify?format=xml", json={"text": KIDNEY}), 422)


def test_summarize_retrieve_and_link(client: TestClient) -> None:
    summary = client.post("/v1/summarize", json={"text": KIDNEY, "audience": "clinician"}).json()
    assert summary["audience"] == "clinician" and summary["label"] == "KIRC" and "KIRC" in summary["text"]
    hits = client.post("/v1/retrieve", json={"text": KIDNEY, "k": 3, "modality": "variants"}).json()["hits"]
    assert len(hits) == 3 and hits[0]["modality"] == "variants"
    batch = client.post("/v1/retrieve", json={"notes": [KIDNEY, KIDNEY], "k": 2}).json()["results"]
    assert [len(r["hits"]) for r in batch] == [2, 2]
    linked = client.post("/v1/link", json={"text": KIDNEY}).json()
    assert linked["lang"] == "en" and {e["text"] for e in linked["entities"]} == {"Clear", "lung"}


def test_limits_and_bad_requests_are_problems(client: TestClient) -> None:
    assert (
        "limit is 4" in _is_problem(client.post("/v1/classify", json={"notes": ["a b"] * 5}), 413)["detail"]
    )
    _is_problem(client.post("/v1/classify", json={"text": "x" * 5000}), 413)  # over max_body_bytes
    bad = _is_problem(
        client.post("/v1/classify", json={"notes": ["ok note", "  ", {"text": "n", "lang": "fr"}]}), 422
    )
    assert [e["index"] for e in bad["errors"]] == [1, 2] and "unsupported language" in bad["errors"][1][
        "detail"
    ]
    _is_problem(client.post("/v1/classify", json={"text": KIDNEY, "notes": [KIDNEY]}), 422)
    schema_error = _is_problem(client.post("/v1/classify", json={"text": MARKER, "colour": MARKER}), 422)
    assert MARKER not in str(schema_error) and schema_error["errors"][0]["loc"][-1] == "colour"
    _is_problem(
        client.post("/v1/classify", content=b"{not json", headers={"content-type": "application/json"}), 422
    )
    _is_problem(client.get("/v1/nowhere"), 404)
    _is_problem(client.get("/v1/classify"), 405)


def test_retrieve_without_an_index_is_501() -> None:
    for client in _client(FakePipeline("auto")):
        _is_problem(client.post("/v1/retrieve", json={"text": KIDNEY}), 501)


def test_api_key_constant_time_and_required_on_v1_only() -> None:
    for client in _client(api_key=KEY):
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
        _is_problem(client.post("/v1/classify", json={"text": KIDNEY}), 401)
        _is_problem(client.post("/v1/classify", json={"text": KIDNEY}, headers={"X-API-Key": KEY[:-1]}), 401)
        ok = client.post("/v1/classify", json={"text": KIDNEY}, headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200
        assert client.post("/v1/link", json={"text": KIDNEY}, headers={"X-API-Key": KEY}).status_code == 200


def test_bind_rules(tmp_path: Any) -> None:
    from cmkd_med.errors import CmkdError

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    assert check_bind("127.0.0.1", None) is None
    with pytest.raises(CmkdError, match="needs --api-key-file"):
        check_bind("0.0.0.0", None)
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    assert check_bind("0.0.0.0", str(key_file)) == KEY
    key_file.write_text("short\n", encoding="utf-8")
    with pytest.raises(CmkdError, match="shorter"):
        check_bind("0.0.0.0", str(key_file))
    from cmkd_med.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--port", "9"]) == 2  # refuses before loading anything


class _Broken(FakePipeline):
    def classify(self, notes: Any, langs: Any = None) -> Any:
        raise RuntimeError(f"bad tensor for note {notes}")  # a bug whose message would quote the note


def test_internal_error_is_a_500_problem_and_no_note_text_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for client in _client(_Broken("auto")):
        body = _is_problem(client.post("/v1/classify", json={"text": f"Patient {MARKER}, renal mass."}), 500)
        assert "RuntimeError" in body["detail"] and MARKER not in str(body)
        _is_problem(client.post("/v1/classify", json={"text": f"{MARKER} ", "lang": "xx"}), 422)
    assert "RuntimeError" in caplog.text and MARKER not in caplog.text


def test_warm_up_loads_every_language_once_and_shares_the_models() -> None:
    nlp = FakePipeline("auto")
    for client in _client(nlp, preload=("pt", "en")):
        assert client.get("/readyz").json()["languages"] == ["pt", "en"]
        client.post("/v1/classify", json={"notes": [KIDNEY] * 3})
    assert nlp.loaded == ["pt", "en"] and nlp.calls == [3]  # one batch call for the request's three notes
