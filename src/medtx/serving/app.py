"""The ASGI app: SageMaker's ``GET /ping`` and ``POST /invocations`` on FastAPI.

``/ping`` answers 200 only once the model is loaded and has answered a warm-up call (503
before, or when loading failed). ``/invocations`` checks, in order: the bearer token (401), the
content type (415), the payload size (413), the body (400), notes per request and characters
per note (413 or truncation). Error bodies are ``{"error": code, "message": ...}`` and never
carry note text; logs hold counts and timings only.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any, Optional

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from medtx.config import AwsSettings, ServingSettings
from medtx.serving.batcher import MicroBatcher
from medtx.serving.capture import CaptureWriter, capture_record
from medtx.serving.contract import INFERENCE_ID_HEADER
from medtx.serving.model import ModelInfo
from medtx.serving.payload import (
    ACCEPTED,
    CUSTOM_ATTRIBUTES_HEADER,
    RequestError,
    apply_limits,
    check_inference_id,
    media_type,
    parse_request,
    top_k_from_attributes,
)

log = logging.getLogger("medtx.serving")
WARMUP_NOTE = "warm up: chief complaint, history of present illness, assessment and plan."


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]
    model_group: Optional[str] = None
    model_version: Optional[int] = None
    truncated: bool = False


class Invocation(BaseModel):
    predictions: list[Prediction]
    inference_id: Optional[str] = None


class ErrorBody(BaseModel):
    error: str
    message: str


_NOTES_SCHEMA = {"type": "object", "required": ["inputs"], "properties": {
    "inputs": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "top_k": {"type": "integer", "minimum": 1}, "inference_id": {"type": "string"}}}
_OPENAPI_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _NOTES_SCHEMA},
    "text/csv": {"schema": {"type": "string", "description": "one note per row (CSV quoting)"}},
    "application/jsonlines": {"schema": {"type": "string",
                                         "description": 'one {"inputs": "note"} per line'}}}}}
_ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (400, 401, 413, 415, 500, 503)}


class ServerState:
    """The model runtime, its batcher and the capture writer, filled by the loader thread."""

    def __init__(self) -> None:
        self.ready = False
        self.failed: Optional[str] = None
        self.batcher: Optional[MicroBatcher] = None
        self.capture: Optional[CaptureWriter] = None
        self.labels: list[str] = []


def _error(exc: RequestError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"error": exc.code, "message": str(exc)}, exc.status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    too_big = RequestError(413, "payload_too_large", f"request body exceeds {limit} bytes")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


#: default for create_app when the group and version are not known (frozen, so safe to share)
UNKNOWN_MODEL = ModelInfo()


def _predictions(proba: np.ndarray, labels: list[str], top_k: int, info: ModelInfo,
                 truncated: list[int]) -> list[dict]:
    k = max(1, min(int(top_k), len(labels)))
    cut, out = set(truncated), []
    for i, row in enumerate(proba):
        order = np.argsort(-row, kind="stable")[:k]
        out.append({"label": labels[int(order[0])],
                    "probabilities": {labels[int(j)]: float(row[j]) for j in order},
                    **info.to_dict(), **({"truncated": True} if i in cut else {})})
    return out


def create_app(serving: ServingSettings, load: Callable[[], Any], info: ModelInfo = UNKNOWN_MODEL,
               aws: Optional[AwsSettings] = None, on_load_error: Optional[Callable[[BaseException], None]] = None
               ) -> FastAPI:
    """The app for ``serving`` settings; ``load()`` returns the model runtime (called on a
    background thread at startup, so ``/ping`` answers 503 while it runs)."""
    state = ServerState()
    token = os.environ.get(serving.token_env) or None

    def load_and_warm() -> None:
        try:
            t0 = time.perf_counter()
            model = load()
            batcher = MicroBatcher(model, serving.batch_max_notes, serving.batch_wait_ms,
                                   serving.threads).start()
            batcher.predict_now([WARMUP_NOTE], timeout=240)
            state.labels, state.batcher = list(model.labels), batcher
            state.ready = True
            log.info("model ready: %d labels, loaded and warmed up in %.1f s",
                     len(state.labels), time.perf_counter() - t0)
        except BaseException as exc:  # noqa: BLE001 - reported through /ping and the callback
            state.failed = type(exc).__name__
            log.error("model failed to load: %s: %s", type(exc).__name__, exc)
            if on_load_error is not None:
                on_load_error(exc)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if serving.capture_to:
            state.capture = CaptureWriter(serving.capture_to, serving.endpoint_name,
                                          serving.variant_name, serving.capture_percent, aws=aws)
        loader = threading.Thread(target=load_and_warm, name="medtx-loader", daemon=True)
        loader.start()
        try:
            yield
        finally:
            loader.join(timeout=5)
            if state.batcher is not None:
                state.batcher.stop()
            if state.capture is not None:
                state.capture.close()
                log.info("capture closed: %d record(s) written, %d failed",
                         state.capture.written, state.capture.failed)

    debug = serving.debug_routes  # off: the API docs and schema routes do not exist (404)
    app = FastAPI(title="medtx inference", version="1",
                  description="Names the medical specialty of clinical notes (SageMaker "
                              "inference contract).", lifespan=lifespan,
                  docs_url="/docs" if debug else None, redoc_url="/redoc" if debug else None,
                  openapi_url="/openapi.json" if debug else None)
    app.state.medtx = state

    @app.get("/ping", responses={503: {"description": "model loading or failed"}})
    async def ping() -> JSONResponse:
        """Health: 200 once the model is loaded and warmed up."""
        if state.ready:
            return JSONResponse({"status": "ready", **info.to_dict()})
        status = "failed" if state.failed else "loading"
        return JSONResponse({"status": status}, 503)

    @app.post("/invocations", response_model=Invocation, responses=_ERRORS,
              openapi_extra=_OPENAPI_BODY)
    async def invocations(request: Request) -> Response:
        """Label notes: JSON, CSV (one note per row) or JSON Lines."""
        t0 = time.perf_counter()
        try:
            return await _invoke(request, t0)
        except RequestError as exc:
            log.info("invocations: %d %s in %.1f ms", exc.status, exc.code,
                     (time.perf_counter() - t0) * 1000)
            return _error(exc)
        except Exception as exc:  # noqa: BLE001 - never a traceback with a note in it
            log.error("invocations: 500 %s", type(exc).__name__)
            return JSONResponse({"error": "internal_error", "message": "inference failed"}, 500)

    async def _invoke(request: Request, t0: float) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
                raise RequestError(401, "unauthorized", "missing or wrong bearer token")
        batcher = state.batcher
        if not state.ready or batcher is None:
            raise RequestError(503, "not_ready", "the model is not loaded yet")
        content_type = request.headers.get("content-type")
        if media_type(content_type) not in ACCEPTED:
            parse_request(b"", content_type)  # raises the 415 naming the accepted types
        with batcher.arriving():  # a gathering micro-batch waits for this request
            body = await _read_body(request, serving.max_payload_bytes)
            req = parse_request(body, content_type)
            if req.top_k is None:  # CSV and JSON Lines bodies ask through the header
                req.top_k = top_k_from_attributes(request.headers.get(CUSTOM_ATTRIBUTES_HEADER))
            header_id = request.headers.get(INFERENCE_ID_HEADER)
            if header_id is not None:
                req.inference_id = check_inference_id(header_id, f"header {INFERENCE_ID_HEADER}")
            apply_limits(req, serving.max_notes, serving.max_note_chars, serving.note_overflow)
            future = batcher.submit(req.notes)
        proba = await asyncio.wrap_future(future)
        doc: dict = {"predictions": _predictions(proba, state.labels, req.top_k or serving.top_k,
                                                 info, req.truncated)}
        if req.inference_id is not None:
            doc["inference_id"] = req.inference_id
        out = json.dumps(doc)
        if state.capture is not None and state.capture.sampled():
            state.capture.put(capture_record(body.decode("utf-8-sig"), media_type(content_type),
                                             req.encoding, out, req.inference_id))
        log.info("invocations: 200, %d note(s) in %.1f ms", len(req.notes),
                 (time.perf_counter() - t0) * 1000)
        headers = {INFERENCE_ID_HEADER: req.inference_id} if req.inference_id else None
        return Response(out, media_type="application/json", headers=headers)

    return app
