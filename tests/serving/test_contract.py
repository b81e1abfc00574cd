"""The /ping and /invocations contract: formats, top_k, inference ids, every error status."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest


def test_ping_is_503_until_the_model_is_loaded_and_warmed_up(live, predictor, labels):
    release = threading.Event()
    calls = []

    class Slow:
        labels = predictor.labels

        def predict_proba(self, notes):
            calls.append(len(notes))
            release.wait(20)  # the warm-up call blocks until released
            return predictor.predict_proba(notes)

    server = live(load=lambda: Slow(), ready=False)
    assert server.client.ping() == 503
    assert server.client.request("GET", "/ping").json() == {"status": "loading"}
    r = server.client.invoke({"inputs": "heart murmur"})
    assert r.status == 503 and r.json()["error"] == "not_ready"
    release.set()
    for _ in range(500):
        if server.client.ping() == 200:
            break
        threading.Event().wait(0.02)
    assert server.client.ping() == 200 and calls[0] == 1  # one warm-up note came first
    body = server.client.request("GET", "/ping").json()
    assert body == {"status": "ready", "model_group": "medtx-test", "model_version": 7}


def test_ping_reports_a_failed_load(live):
    def broken():
        raise OSError("disk gone")

    server = live(load=broken, ready=False)
    for _ in range(200):
        if server.client.request("GET", "/ping").json()["status"] == "failed":
            break
        threading.Event().wait(0.02)
    r = server.client.request("GET", "/ping")
    assert r.status == 503 and r.json() == {"status": "failed"}


def test_json_single_and_list_give_label_top_k_and_model(live, expected, labels, make_notes):
    server = live()
    notes = make_notes(3, seed=1)
    one = server.client.invoke({"inputs": notes[0]})
    assert one.status == 200 and one.headers["content-type"] == "application/json"
    (pred,) = one.json()["predictions"]
    want = expected(notes[:1])[0]
    assert pred["label"] == labels[int(want.argmax())]
    assert pred["model_group"] == "medtx-test" and pred["model_version"] == 7
    assert len(pred["probabilities"]) == 3  # serving.top_k default, all 3 labels here
    assert list(pred["probabilities"].values()) == sorted(pred["probabilities"].values(), reverse=True)
    for label, p in pred["probabilities"].items():
        assert p == pytest.approx(want[labels.index(label)], abs=1e-5)
    many = server.client.invoke({"inputs": notes, "top_k": 1}).json()["predictions"]
    assert [p["label"] for p in many] == [labels[int(r.argmax())] for r in expected(notes)]
    assert all(list(p["probabilities"]) == [p["label"]] for p in many)


def test_probabilities_are_calibrated_with_the_package_temperature(live, predictor, labels, make_notes):
    server = live()
    note = make_notes(1, seed=2)[0]
    probs = server.client.invoke({"inputs": note}).json()["predictions"][0]["probabilities"]
    logits = predictor.logits([note])[0]
    calibrated = np.exp(logits / 1.5) / np.exp(logits / 1.5).sum()
    assert predictor.temperature == 1.5
    assert [probs[label] for label in labels] == pytest.approx(list(calibrated), abs=1e-5)


def test_top_k_larger_than_the_labels_is_capped(live):
    r = live().client.invoke({"inputs": "heart", "top_k": 50})
    assert len(r.json()["predictions"][0]["probabilities"]) == 3


def test_csv_and_jsonlines_ask_for_top_k_through_custom_attributes(live):
    server = live()
    attrs = {"X-Amzn-SageMaker-Custom-Attributes": "trace=abc, top_k=1"}
    r = server.client.invoke('"heart murmur"\r\n"knee cast"\r\n', "text/csv", attrs)
    assert r.status == 200 and all(len(p["probabilities"]) == 1 for p in r.json()["predictions"])
    r = server.client.invoke('{"inputs": "heart"}\n', "application/jsonlines",
                             {"X-Amzn-SageMaker-Custom-Attributes": "top_k=2"})
    assert len(r.json()["predictions"][0]["probabilities"]) == 2
    r = server.client.invoke('"heart"\r\n', "text/csv", {"X-Amzn-SageMaker-Custom-Attributes": "top_k=0"})
    assert r.status == 400 and "top_k" in r.json()["message"]


def test_csv_rows_with_quoting_and_jsonlines(live, expected, labels):
    server = live()
    notes = ["heart murmur, valve stent", 'knee "fracture" cast', "seizure\ntremor gait"]
    csv_body = "".join('"' + n.replace('"', '""') + '"\r\n' for n in notes)
    r = server.client.invoke(csv_body, "text/csv")
    assert r.status == 200, r.body
    want = [labels[int(x.argmax())] for x in expected(notes)]
    assert [p["label"] for p in r.json()["predictions"]] == want
    lines = "\n".join(json.dumps({"inputs": n}) for n in notes) + "\n"
    r = server.client.invoke(lines, "application/jsonlines")
    assert r.status == 200 and [p["label"] for p in r.json()["predictions"]] == want
    r = server.client.invoke(csv_body, "text/csv; charset=utf-8")
    assert r.status == 200


def test_inference_id_is_echoed_from_header_or_field(live):
    server = live()
    r = server.client.invoke({"inputs": "heart"}, headers={"X-Amzn-SageMaker-Inference-Id": "req-1"})
    assert r.headers["x-amzn-sagemaker-inference-id"] == "req-1" and r.json()["inference_id"] == "req-1"
    r = server.client.invoke({"inputs": "heart", "inference_id": "req-2"})
    assert r.headers["x-amzn-sagemaker-inference-id"] == "req-2" and r.json()["inference_id"] == "req-2"
    r = server.client.invoke("heart\n", "text/csv", headers={"X-Amzn-SageMaker-Inference-Id": "req-3"})
    assert r.json()["inference_id"] == "req-3"
    assert "inference_id" not in server.client.invoke({"inputs": "heart"}).json()


BAD = [  # (content type, body, status, error code, words the message must hold)
    ("application/json", b'{"inputs": "heart', 400, "malformed_json", "not valid JSON"),
    ("application/json", b'["heart"]', 400, "bad_field", "JSON object"),
    ("application/json", b'{"text": "heart"}', 400, "bad_field", "unknown field"),
    ("application/json", b'{"top_k": 2}', 400, "missing_field", "'inputs' is missing"),
    ("application/json", b'{"inputs": 5}', 400, "note_not_text", "string or a list"),
    ("application/json", b'{"inputs": ["heart", 3, null]}', 400, "note_not_text", "position(s) 1, 2"),
    ("application/json", b'{"inputs": ["heart", "  "]}', 400, "empty_note", "position(s) 1"),
    ("application/json", b'{"inputs": ""}', 400, "empty_note", "empty"),
    ("application/json", b'{"inputs": []}', 400, "empty_note", "empty list"),
    ("application/json", b'{"inputs": "heart", "top_k": 0}', 400, "bad_field", "top_k"),
    ("application/json", b'{"inputs": "heart", "top_k": "2"}', 400, "bad_field", "top_k"),
    ("application/json", b'{"inputs": "heart", "inference_id": 12}', 400, "bad_field", "inference_id"),
    ("application/json", b'\xff\xfe{"inputs": 1}', 400, "bad_encoding", "UTF-8"),
    ("text/csv", b'"heart","knee"\n', 400, "malformed_csv", "more than one field"),
    ("text/csv", b'"heart\n', 400, "malformed_csv", "not valid CSV"),
    ("text/csv", b'""\n', 400, "empty_note", "empty"),
    ("application/jsonlines", b'{"inputs": "heart"}\n{"inputs": \n', 400, "malformed_json", "line 2"),
    ("application/jsonlines", b'{"inputs": 3}\n', 400, "note_not_text", "position(s) 0"),
    ("application/jsonlines", b'{"note": "x"}\n', 400, "missing_field", "line 1"),
    ("text/plain", b"heart", 415, "unsupported_media_type", "application/json"),
    ("", b"heart", 415, "unsupported_media_type", "none"),
]


@pytest.mark.parametrize("content_type,body,status,code,words", BAD,
                         ids=[f"{c or 'none'}-{k}-{i}" for i, (c, _, _, k, _) in enumerate(BAD)])
def test_every_refusal_names_its_cause(live, content_type, body, status, code, words, secret):
    server = live()
    r = server.client.invoke(body.replace(b"heart", secret.encode()), content_type)
    assert r.status == status, r.body
    doc = r.json()
    assert doc["error"] == code and words in doc["message"]
    assert secret not in r.body.decode("utf-8", "replace")


def test_limits_give_413_and_truncation_when_configured(live, expected, secret):
    server = live(max_payload_bytes=2000, max_notes=4, max_note_chars=100)
    r = server.client.invoke({"inputs": "heart " * 400})
    assert r.status == 413 and r.json()["error"] == "payload_too_large" and "2000 bytes" in r.json()["message"]
    r = server.client.invoke({"inputs": ["heart"] * 5})
    assert r.status == 413 and r.json()["error"] == "too_many_notes" and "at most 4" in r.json()["message"]
    long_note = secret + " " + "knee " * 30
    r = server.client.invoke({"inputs": ["heart", long_note]})
    assert r.status == 413 and r.json()["error"] == "note_too_long"
    assert "position(s) 1" in r.json()["message"]
    assert secret not in r.body.decode()
    chunked = server.client.request("POST", "/invocations", iter([b'{"inputs": "', b"x" * 2500, b'"}']),
                                    {"Content-Type": "application/json"})  # no length: sent chunked
    assert chunked.status == 413

    cut = live(max_note_chars=100, note_overflow="truncate")
    r = cut.client.invoke({"inputs": ["heart", long_note]})
    assert r.status == 200
    preds = r.json()["predictions"]
    assert preds[1]["truncated"] is True and "truncated" not in preds[0]
    want = expected([long_note[:100]])[0]
    assert preds[1]["probabilities"][preds[1]["label"]] == pytest.approx(want.max(), abs=1e-5)


def test_bearer_token_guards_invocations_but_not_ping(live, monkeypatch, serving_settings):
    monkeypatch.setenv(serving_settings.serving.token_env, "s3cret-token")
    server = live()
    assert server.client.ping() == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
        r = server.client.invoke({"inputs": "heart"}, headers=headers)
        assert r.status == 401 and r.json()["error"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
    r = server.client.invoke({"inputs": "heart"}, headers={"Authorization": "Bearer s3cret-token"})
    assert r.status == 200


def test_api_docs_and_schema_routes_exist_only_when_asked_for(live):
    default = live().client
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        assert default.request("GET", path).status == 404, path
    assert default.ping() == 200
    debug = live(debug_routes=True).client
    assert debug.request("GET", "/docs").status == 200 and debug.request("GET", "/redoc").status == 200


def test_openapi_schema_documents_the_endpoints(live):
    doc = live(debug_routes=True).client.request("GET", "/openapi.json").json()
    assert {"/ping", "/invocations"} <= set(doc["paths"])
    content = doc["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert {"application/json", "text/csv", "application/jsonlines"} <= set(content)
