import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from medtx.config import load_settings, parse_config, parse_settings
from medtx.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["local.json", "dev.json", "staging.json", "prod.json"])
def test_shipped_configs_parse(name):
    s = load_settings(ROOT / "configs" / name)
    assert s.env == name.removesuffix(".json")


def test_local_config_is_offline_and_local():
    s = load_settings(ROOT / "configs" / "local.json")
    assert s.compute.backend == "local"
    assert s.registry.backend == "local"
    assert s.data.path is None
    assert s.model.name_or_path.startswith("bundled:")
    # the shipped CPU recipe beats the baseline, so the default gate approves only such a model
    assert s.gate.min_margin_over_baseline >= 0.0
    assert (s.model.wide, s.model.pooling, s.train.targets) == ("baseline_scores", "mean", "soft")


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


def test_recipe_keys_are_checked():
    with pytest.raises(ConfigError, match=r"train\.layer_decay must be in \(0, 1\]"):
        parse_settings({"env": "x", "train": {"layer_decay": 1.5}})
    with pytest.raises(ConfigError, match="train.head_learning_rate must be > 0"):
        parse_settings({"env": "x", "train": {"head_learning_rate": 0.0}})
    with pytest.raises(ConfigError, match="'pooled' .* needs model.long_note 'chunks'"):
        parse_settings({"env": "x", "train": {"window_sampling": "pooled"}})
    with pytest.raises(ConfigError, match="model.wide_folds must be >= 2"):
        parse_settings({"env": "x", "model": {"wide": "baseline_scores", "wide_folds": 1}})
    with pytest.raises(ConfigError, match="train.targets"):
        parse_settings({"env": "x", "train": {"targets": "multi"}})
    ok = parse_settings({"env": "x", "model": {"long_note": "chunks", "pooling": "mean"},
                         "train": {"window_sampling": "pooled", "targets": "soft"}})
    assert (ok.model.pooling, ok.train.window_sampling, ok.train.targets) == ("mean", "pooled", "soft")


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


def _accounts(**extra):
    return {
        "pipeline": {"account_id": "111111111111",
                     "role_arn": "arn:aws:iam::111111111111:role/medtx-pipeline"},
        "deploy": {"account_id": "333333333333", "region": "eu-west-1",
                   "role_arn": "arn:aws:iam::333333333333:role/medtx-deploy", **extra},
    }


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"env": "x", "train": {"epochs": 3.0}}, r"'train\.epochs' must be an integer, got float"),
        ({"env": "x", "train": {"epochs": True}}, r"'train\.epochs' must be an integer, got bool"),
        ({"env": "x", "train": {"compile": 1}}, r"'train\.compile' must be true or false"),
        ({"env": "x", "data": {"path": 3}}, r"'data\.path' must be a string, got int"),
        ({"env": "x", "split": {"seed": "42"}}, r"'split\.seed' must be an integer, got str"),
        ({"env": "x", "labels": {"keep": ["A", 2]}}, r"'labels\.keep\[1\]' must be a string"),
        ({"env": "x", "labels": {"merge": {"A": 1}}}, r"'labels\.merge\.A' must be a string"),
        ({"env": "x", "train": 3}, r"'train' must be an object"),
        ({"env": "x", "baseline": {"C": "1"}}, r"'baseline\.C' must be a number"),
        ({"env": "x", "baseline": {"class_weight": "auto"}}, r"'baseline\.class_weight' must be 'balanced'"),
    ],
)
def test_strict_types_name_the_key_and_expectation(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings(raw)


def test_int_is_accepted_for_a_float_and_stays_a_float():
    s = parse_settings({"env": "x", "train": {"learning_rate": 1}, "baseline": {"C": 2}})
    assert s.train.learning_rate == 1.0 and isinstance(s.train.learning_rate, float)
    assert s.baseline.C == 2.0 and isinstance(s.baseline.C, float)


def test_not_an_object_at_the_root():
    with pytest.raises(ConfigError, match="must be a JSON object, got list"):
        parse_settings([{"env": "x"}])


def test_unknown_key_in_nested_section_names_path_and_allowed_keys():
    raw = {"env": "x", "aws": {"accounts": _accounts(rolearn="x")}}
    with pytest.raises(ConfigError) as info:
        parse_settings(raw)
    msg = str(info.value)
    assert "unknown config key(s) ['rolearn'] in section 'aws.accounts.deploy'" in msg
    assert "allowed: ['account_id', 'external_id', 'region', 'role_arn']" in msg


def test_missing_required_key_in_account_is_named():
    accounts = _accounts()
    del accounts["deploy"]["role_arn"]
    with pytest.raises(ConfigError, match=r"missing required config key 'aws\.accounts\.deploy\.role_arn'"):
        parse_settings({"env": "x", "aws": {"accounts": accounts}})


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_settings({"train": {"epochs": "3", "epoch": 3}})
    msg = str(info.value)
    for part in ("'epoch'", "'train.epochs' must be an integer", "missing required config key 'env'"):
        assert part in msg


def test_accounts_parse_with_defaults():
    s = parse_settings({"env": "x", "aws": {"accounts": _accounts(external_id="ext-1")},
                        "registry": {"account": "deploy"}})
    assert s.registry.account == "deploy"
    deploy = s.aws.get_account("deploy")
    assert (deploy.account_id, deploy.region, deploy.external_id) == ("333333333333", "eu-west-1", "ext-1")
    assert s.aws.get_account("pipeline").region is None  # None = aws.region
    assert s.to_dict()["aws"]["accounts"]["deploy"]["role_arn"].endswith(":role/medtx-deploy")
    with pytest.raises(ConfigError, match=r"unknown AWS account 'prod'.*\['deploy', 'pipeline'\]"):
        s.aws.get_account("prod")


@pytest.mark.parametrize(
    "account, message",
    [
        ({"account_id": "1234", "role_arn": "arn:aws:iam::1234:role/r"},
         r"aws\.accounts\.bad\.account_id must be 12 digits"),
        ({"account_id": "123456789012", "role_arn": "medtx-role"},
         r"aws\.accounts\.bad\.role_arn must be an IAM role ARN"),
        ({"account_id": "123456789012", "role_arn": "arn:aws:iam::210987654321:role/r"},
         r"aws\.accounts\.bad\.role_arn is a role in account 210987654321"),
        ({"account_id": 123456789012, "role_arn": "arn:aws:iam::123456789012:role/r"},
         r"'aws\.accounts\.bad\.account_id' must be a string, got int"),
    ],
)
def test_account_values_are_checked(account, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings({"env": "x", "aws": {"accounts": {"bad": account}}})


def test_default_role_is_checked_against_account_id():
    with pytest.raises(ConfigError, match=r"aws\.role_arn is a role in account 222222222222"):
        parse_settings({"env": "x", "aws": {"account_id": "111111111111",
                                            "role_arn": "arn:aws:iam::222222222222:role/r"}})


def test_registry_account_must_name_a_known_account():
    with pytest.raises(ConfigError, match=r"registry\.account 'prod'.*known: \['deploy', 'pipeline'\]"):
        parse_settings({"env": "x", "aws": {"accounts": _accounts()}, "registry": {"account": "prod"}})
    with pytest.raises(ConfigError, match=r"registry\.account 'deploy'.*known: \[\]"):
        parse_settings({"env": "x", "registry": {"account": "deploy"}})


def test_baseline_section_defaults_and_checks():
    from medtx.modeling.baseline import BaselineSettings as FromModeling

    s = parse_settings({"env": "x"})
    assert FromModeling is type(s.baseline)
    assert (s.baseline.ngram_max, s.baseline.min_df, s.baseline.max_features) == (1, 2, 200_000)
    assert (s.baseline.C, s.baseline.class_weight, s.baseline.sublinear_tf) == (1.0, "balanced", True)
    assert parse_settings({"env": "x", "baseline": {"class_weight": None}}).baseline.class_weight is None
    with pytest.raises(ConfigError, match=r"baseline\.C must be > 0"):
        parse_settings({"env": "x", "baseline": {"C": 0}})
    with pytest.raises(ConfigError, match=r"baseline\.ngram_max"):
        parse_settings({"env": "x", "baseline": {"ngram_max": 0}})


def test_sections_validate_on_construction():
    from medtx.config import TrainSettings

    with pytest.raises(ValueError):
        TrainSettings(epochs="3")
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainSettings().epochs = 4
    assert dataclasses.replace(TrainSettings(), epochs=5).epochs == 5


def test_settings_pickle_hash_and_dict_roundtrip():
    s = parse_settings({"env": "x", "labels": {"keep": ["A"], "merge": {"B": "A"}},
                        "aws": {"accounts": _accounts()}, "registry": {"account": "deploy"}})
    again = pickle.loads(pickle.dumps(s))
    assert again == s and hash(again) == hash(s)
    assert s.to_dict() == dataclasses.asdict(s)
    assert parse_settings(s.to_dict()) == s
    assert hash(s.with_overrides(train={"epochs": 9})) != hash(s)
    assert {s: 1}[again] == 1  # usable as a cache key


def test_load_settings_bad_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_settings(bad)


@pytest.mark.parametrize("name", ["dev.json", "staging.json", "prod.json"])
def test_cloud_configs_name_accounts_and_registry_account(name):
    s = load_settings(ROOT / "configs" / name)
    assert len(s.aws.accounts) >= 2
    assert s.registry.account in s.aws.accounts
    for account in s.aws.accounts.values():
        assert f"::{account.account_id}:role/" in account.role_arn
