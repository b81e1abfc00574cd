"""Run the server in the foreground: ``medtx serve``, the container's ``serve`` and
:func:`medtx.serving.process.start_server` all end here.

    python -m medtx.serving.server serve                       # the SageMaker container
    python -m medtx.serving.server --model-dir DIR --port 8080 # anywhere else

``serve`` (what SageMaker passes to ``docker run IMAGE serve``) means container defaults: the
model at ``/opt/ml/model`` (``SM_MODEL_DIR``), host ``0.0.0.0``, port ``SAGEMAKER_BIND_TO_PORT``
or 8080. Settings come from ``--config``, else ``MEDTX_SETTINGS`` (JSON text), else
``MEDTX_CONFIG`` (a file), else the defaults; ``MEDTX_SERVING`` (a JSON object) overrides keys of
the ``serving`` section. uvicorn drains open requests on SIGTERM (at most 25 s, inside
SageMaker's 30 s) and the capture writer flushes before the process exits.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from medtx.config import Settings
from medtx.errors import ConfigError, MedtxError

CONTAINER_MODEL_DIR = "/opt/ml/model"
GRACEFUL_S = 25  # uvicorn's drain on SIGTERM; SageMaker kills 30 s after it
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def settings_from_env(config: Optional[str] = None) -> Settings:
    """Settings per the rules in the module docstring."""
    from medtx.config import load_settings, parse_settings

    if config:
        settings = load_settings(config)
    elif os.environ.get("MEDTX_SETTINGS"):
        try:
            settings = parse_settings(json.loads(os.environ["MEDTX_SETTINGS"]))
        except json.JSONDecodeError:
            raise ConfigError("MEDTX_SETTINGS is not valid JSON") from None
    elif os.environ.get("MEDTX_CONFIG"):
        settings = load_settings(os.environ["MEDTX_CONFIG"])
    else:
        settings = parse_settings({"env": "serve"})
    if os.environ.get("MEDTX_SERVING"):
        try:
            overrides = json.loads(os.environ["MEDTX_SERVING"])
        except json.JSONDecodeError:
            raise ConfigError("MEDTX_SERVING is not valid JSON") from None
        if not isinstance(overrides, dict):
            raise ConfigError("MEDTX_SERVING must be a JSON object of serving settings")
        settings = settings.with_overrides(serving=overrides)
    return settings


def serve(package_dir: Path, settings: Settings, host: Optional[str] = None,
          port: Optional[int] = None, group: Optional[str] = None,
          version: Optional[int] = None) -> int:
    """Serve ``package_dir`` until SIGTERM/SIGINT; 0 after a clean stop, 1 if loading failed."""
    import uvicorn

    from medtx.serving.app import create_app
    from medtx.serving.model import load_model, model_info

    serving = settings.serving
    package_dir = Path(package_dir)
    info = model_info(package_dir, group, version, default_group=settings.registry.group)
    failed: list[BaseException] = []
    holder: dict = {}

    def on_load_error(exc: BaseException) -> None:
        failed.append(exc)
        if "server" in holder:
            holder["server"].should_exit = True

    app = create_app(serving, lambda: load_model(package_dir, serving.runtime,
                                                 serving.batch_max_notes, serving.threads),
                     info, aws=settings.aws, on_load_error=on_load_error)
    config = uvicorn.Config(app, host=host or serving.host, port=int(port or serving.port),
                            log_config=None, access_log=True, lifespan="on",
                            timeout_graceful_shutdown=GRACEFUL_S, timeout_keep_alive=75)
    server = holder["server"] = uvicorn.Server(config)
    _run_until_signal(server)
    return 1 if failed else 0


class _Stopped(Exception):
    """SIGTERM/SIGINT arrived and uvicorn has drained and shut down."""


def _stopped(signum: int, frame: Any) -> None:
    raise _Stopped()


def _run_until_signal(server: Any) -> None:
    """``server.run()``; uvicorn re-raises the stop signal after its graceful shutdown, which
    here ends the run cleanly (exit status 0) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        server.run()
        return
    previous = {s: signal.signal(s, _stopped) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    except _Stopped:
        logging.getLogger("medtx.serving").info("stopped by signal after a graceful shutdown")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m medtx.serving.server", description=__doc__.split("\n\n")[0])
    p.add_argument("mode", nargs="?", choices=["serve"], help="container mode (SageMaker)")
    p.add_argument("--model-dir", help=f"model package folder (container: {CONTAINER_MODEL_DIR})")
    p.add_argument("--host", help="bind address (default: serving.host; container: 0.0.0.0)")
    p.add_argument("--port", type=int, help="port (default: serving.port; container: "
                                            "SAGEMAKER_BIND_TO_PORT or 8080)")
    p.add_argument("--config", help="config file")
    p.add_argument("--model-group", help="group reported with predictions")
    p.add_argument("--model-version", type=int, help="version reported with predictions")
    return p


def container_defaults(env: Optional[Mapping[str, str]] = None) -> dict:
    """Where ``serve`` finds the model and what it binds inside SageMaker's container."""
    environ: Mapping[str, str] = os.environ if env is None else env
    return {"model_dir": environ.get("SM_MODEL_DIR") or CONTAINER_MODEL_DIR, "host": "0.0.0.0",
            "port": int(environ.get("SAGEMAKER_BIND_TO_PORT") or 8080)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    defaults = container_defaults() if args.mode == "serve" else {}
    model_dir = args.model_dir or defaults.get("model_dir")
    if not model_dir:
        print("medtx serve: error: --model-dir is required outside the container", file=sys.stderr)
        return 2
    try:
        settings = settings_from_env(args.config)
        if args.mode == "serve":  # SageMaker's container: only /ping and /invocations
            settings = settings.with_overrides(serving={"debug_routes": False})
        return serve(Path(model_dir), settings, args.host or defaults.get("host"),
                     args.port or defaults.get("port"), args.model_group, args.model_version)
    except MedtxError as exc:
        print(f"medtx serve: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
