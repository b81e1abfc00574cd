"""A sequence classifier over the masked mean of an encoder's token states.

Sentence encoders such as the bundled all-MiniLM-L6-v2 were trained to represent a text by the
mean of its token vectors; their ``[CLS]`` pooler was never trained for that. ``model.pooling:
mean`` fine-tunes such an encoder through the representation it was built for:
``MeanPoolClassifier`` is a Hugging Face ``PreTrainedModel`` (any ``AutoModel`` encoder inside,
a dropout and a linear head on the masked mean), registered with the Auto classes under the
model type ``medtx-mean-pool``. It saves and loads like any other classifier (``config.json``
names the encoder's own config, ``model.safetensors`` holds the weights), so the package,
the predictor and the ONNX export handle it without special cases.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

MODEL_TYPE = "medtx-mean-pool"
# what the rest of medtx (and the ONNX export) reads from a classifier's config
_PROXIED = ("hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size",
            "max_position_embeddings")


class MeanPoolConfig(PretrainedConfig):
    """``encoder``: the inner encoder's config as a dict; shape facts are mirrored at the top."""

    model_type = MODEL_TYPE

    def __init__(self, encoder: Optional[dict] = None, classifier_dropout: float = 0.1, **kwargs: Any):
        self.encoder = dict(encoder or {})
        self.classifier_dropout = classifier_dropout
        inner = self.encoder_config() if self.encoder else None
        for name in _PROXIED:
            if inner is not None and getattr(inner, name, None) is not None:
                kwargs.setdefault(name, getattr(inner, name))
        if inner is not None and inner.pad_token_id is not None:
            kwargs.setdefault("pad_token_id", inner.pad_token_id)
        super().__init__(**kwargs)

    def encoder_config(self) -> PretrainedConfig:
        raw = dict(self.encoder)
        return AutoConfig.for_model(raw.pop("model_type"), **raw)


class MeanPoolClassifier(PreTrainedModel):
    config_class = MeanPoolConfig
    base_model_prefix = "encoder"
    _supports_sdpa = True
    _supports_attention_backend = True

    def __init__(self, config: MeanPoolConfig):
        super().__init__(config)
        inner = config.encoder_config()
        inner._attn_implementation = config._attn_implementation
        self.encoder = AutoModel.from_config(inner)
        self.dropout = torch.nn.Dropout(config.classifier_dropout)
        if config.num_labels is None:
            raise ValueError("MeanPoolConfig needs num_labels")
        self.classifier = torch.nn.Linear(inner.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: Any) -> None:
        classifier = getattr(self, "classifier", None)  # not there yet while the base class initialises
        if classifier is not None and module is classifier:
            module.weight.data.normal_(0.0, 0.02)
            module.bias.data.zero_()

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.Tensor] = None, **kwargs: Any) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.to(states.dtype).unsqueeze(-1)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(MODEL_TYPE, MeanPoolConfig, exist_ok=True)
AutoModelForSequenceClassification.register(MeanPoolConfig, MeanPoolClassifier, exist_ok=True)
AutoModel.register(MeanPoolConfig, MeanPoolClassifier, exist_ok=True)


def mean_pool_classifier(encoder: Any, labels: list[str]) -> MeanPoolClassifier:
    """A new classifier around a loaded encoder (its pretrained weights kept, head new)."""
    inner = encoder.config.to_dict()
    for key in ("id2label", "label2id", "architectures", "num_labels"):
        inner.pop(key, None)
    config = MeanPoolConfig(
        encoder=inner, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)})
    config._attn_implementation = encoder.config._attn_implementation
    model = MeanPoolClassifier(config)
    missing, unexpected = model.encoder.load_state_dict(encoder.state_dict(), strict=False)
    if missing:
        raise ValueError(f"the encoder's weights do not fit its own config: missing {missing[:3]}")
    return model
