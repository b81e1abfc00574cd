"""What is served: the runtime chosen by serving.runtime and the group/version reported."""
from __future__ import annotations

import sys
import types

import pytest

from medtx.errors import ConfigError, ModelLoadError
from medtx.serving.model import ModelInfo, load_model, model_info


def test_torch_runtime_is_the_package_predictor(package_dir, labels):
    model = load_model(package_dir, "torch")
    assert model.labels == labels and model.predict_proba(["heart"]).shape == (1, 3)


def test_onnx_runtime_comes_from_the_onnx_module(package_dir, monkeypatch):
    calls = []
    fake = types.ModuleType("medtx.modeling.onnx_runtime")
    fake.load_runtime = lambda path, **kw: calls.append((path, kw)) or "onnx-model"
    monkeypatch.setitem(sys.modules, "medtx.modeling.onnx_runtime", fake)
    assert load_model(package_dir, "onnx-int8", batch_size=16, threads=2) == "onnx-model"
    assert calls == [(package_dir, {"threads": 2, "batch_size": 16})]


def test_onnx_runtime_without_its_module_is_a_config_error(package_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "medtx.modeling.onnx_runtime", None)  # import fails
    with pytest.raises(ConfigError, match="onnx-int8.*runtime 'torch'"):
        load_model(package_dir, "onnx-int8")
    with pytest.raises(ConfigError, match="unknown serving.runtime"):
        load_model(package_dir, "tensorrt")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(package_dir / "absent", "torch")


def test_group_and_version_come_from_arguments_env_or_package(package_dir, monkeypatch):
    assert model_info(package_dir) == ModelInfo("medtx-test", 7)  # the package's medtx.json
    monkeypatch.setenv("MEDTX_MODEL_GROUP", "from-env")
    monkeypatch.setenv("MEDTX_MODEL_VERSION", "9")
    assert model_info(package_dir) == ModelInfo("from-env", 9)
    assert model_info(package_dir, "arg", 3) == ModelInfo("arg", 3)
    monkeypatch.setenv("MEDTX_MODEL_VERSION", "nine")
    with pytest.raises(ConfigError, match="integer"):
        model_info(package_dir)
    monkeypatch.delenv("MEDTX_MODEL_GROUP")
    monkeypatch.delenv("MEDTX_MODEL_VERSION")
    assert model_info(package_dir.parent, default_group="g") == ModelInfo("g", None)
