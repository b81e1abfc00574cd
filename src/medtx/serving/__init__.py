"""Serving: the SageMaker-contract inference server and what runs it.

* :mod:`.contract` — header names, the smoke-request id prefix, stage endpoint names.
* :mod:`.app` — ``create_app``: FastAPI ``/ping`` and ``/invocations``.
* :mod:`.payload` — request parsing and limits (JSON, CSV, JSON Lines).
* :mod:`.batcher` — ``MicroBatcher``: one inference thread, bounded micro-batches.
* :mod:`.capture` — SageMaker-format data capture (``CaptureWriter``, ``read_capture``).
* :mod:`.model` — ``load_model`` (torch or ONNX runtime) and ``ModelInfo``.
* :mod:`.server` — ``serve`` in the foreground and the container entry point.
* :mod:`.process` — ``start_server`` / ``wait_ready`` / ``stop_server`` for background servers.
"""
