"""What the endpoint and its callers agree on: header names, the smoke-request id prefix and
how a stage's endpoint is named.

The server (``serving.app``) reads these headers, deploy's smoke tests and the rehearsal send
them, and monitoring reads the ids back out of capture, so each is spelled here once.
"""
from __future__ import annotations

#: SageMaker's per-request id: echoed in the answer and kept in capture (``inference_id``)
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
#: SageMaker's free-form request attributes (medtx reads ``top_k=N`` from it)
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
#: inference ids of a deploy's smoke requests start with this, so monitoring leaves them out
SMOKE_ID_PREFIX = "medtx-smoke-"
ENDPOINT_PREFIX = "medtx-"


def stage_endpoint(stage: str) -> str:
    """The endpoint name of ``stage`` when config names none: ``medtx-<stage>``."""
    return f"{ENDPOINT_PREFIX}{stage}"
