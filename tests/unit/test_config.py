from pathlib import Path
import json

import pytest

from medtx.config import load_settings, parse_config, parse_settings
from medtx.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["local.json", "local-chunks.json", "dev.json", "staging.json", "prod.json"])
def test_shipped_configs_parse(name):
    s = load_settings(ROOT / "configs" / name)
    assert s.env == name.removesuffix(".json")


def test_local_config_is_offline_and_local():
    s = load_settings(ROOT / "configs" / "local.json")
    assert s.compute.backend == "local"
    assert s.registry.backend == "local"
    assert s.data.path is None
    assert s.model.name_or_path.startswith("bundled:")


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['epoch'\] in section 'train'"):
        parse_settings({"env": "x", "train": {"epoch": 3}})


def test_unknown_section_is_named():
    with pytest.raises(ConfigError, match="trian"):
        parse_settings({"env": "x", "trian": {}})


def test_missing_required_key_is_named():
    with pytest.raises(ConfigError, match="missing required config key 'env'"):
        parse_settings({"data": {}})


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"env": "x", "train": {"epochs": "3"}}, "train.epochs"),
        ({"env": "x", "train": {"learning_rate": True}}, "train.learning_rate"),
        ({"env": "x", "compute": {"backend": "slurm"}}, "compute.backend"),
        ({"env": "x", "labels": {"drop": "Surgery"}}, "labels.drop"),
    ],
)
def test_wrong_type_is_named(raw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_settings(raw)


def test_value_checks():
    with pytest.raises(ConfigError, match="test_size"):
        parse_settings({"env": "x", "split": {"test_size": 0.5, "val_size": 0.45}})
    with pytest.raises(ConfigError, match="compute.queue"):
        parse_settings({"env": "x", "compute": {"backend": "batch"}})


def test_parse_config_roundtrip_and_bad_json():
    d = parse_config(json.dumps({"env": "t"}))
    assert parse_settings(d).env == "t"
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_config("{not json")


def test_with_overrides_revalidates(settings):
    s2 = settings.with_overrides(labels={"preset": "all40"}, data={"path": "x.csv"})
    assert (s2.labels.preset, s2.data.path) == ("all40", "x.csv")
    assert settings.labels.preset == "spec12"  # frozen original unchanged
    with pytest.raises(ConfigError):
        settings.with_overrides(train={"epochs": 0})
