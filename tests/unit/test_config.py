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
    with pytest.raises(ConfigError, match=r"'train\.layer_decay' must be <= 1, got float 1\.5"):
        parse_settings({"env": "x", "train": {"layer_decay": 1.5}})
    with pytest.raises(ConfigError, match=r"'train\.head_learning_rate' must be > 0"):
        parse_settings({"env": "x", "train": {"head_learning_rate": 0.0}})
    with pytest.raises(ConfigError, match="'pooled' .* needs model.long_note 'chunks'"):
        parse_settings({"env": "x", "train": {"window_sampling": "pooled"}})
    with pytest.raises(ConfigError, match=r"'model\.wide_folds' must be >= 2"):
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
    with pytest.raises(ConfigError, match=r"'baseline\.C' must be > 0"):
        parse_settings({"env": "x", "baseline": {"C": 0}})
    with pytest.raises(ConfigError, match=r"'baseline\.ngram_max' must be >= 1"):
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


# --- one recipe: base.json, overlays, extends ----------------------------------------------

def _write(folder: Path, name: str, raw) -> Path:
    path = folder / name
    path.write_text(json.dumps(raw) if not isinstance(raw, str) else raw)
    return path


def test_merge_objects_key_by_key_and_replace_everything_else():
    from medtx.config import merge

    base = {"train": {"epochs": 6, "seed": 42}, "deploy": {"stages": ["staging", "prod"]},
            "data": {"path": "a.csv"}, "labels": {"merge": {"A": "B"}}}
    over = {"train": {"epochs": 12}, "deploy": {"stages": ["dev"]}, "data": {"path": None},
            "labels": {"merge": {"C": "D"}}, "env": "x"}
    assert merge(base, over) == {"train": {"epochs": 12, "seed": 42}, "deploy": {"stages": ["dev"]},
                                 "data": {"path": None}, "labels": {"merge": {"A": "B", "C": "D"}},
                                 "env": "x"}
    assert base["train"] == {"epochs": 6, "seed": 42}  # inputs are not changed
    assert merge({"train": {"epochs": 6}}, {"train": 3}) == {"train": 3}  # validation refuses it later


def test_extends_chain_merges_in_order_and_drops_the_key(tmp_path):
    from medtx.config import load_config_dict

    _write(tmp_path, "base.json", {"train": {"epochs": 6, "seed": 42}, "labels": {"preset": "spec12"}})
    _write(tmp_path, "gpu.json", {"extends": "base.json", "train": {"epochs": 12}})
    env = _write(tmp_path, "env.json", {"extends": "gpu.json", "env": "e", "labels": {"preset": "all40"}})
    raw = load_config_dict(env, base_dir=tmp_path)
    assert raw == {"env": "e", "train": {"epochs": 12, "seed": 42}, "labels": {"preset": "all40"}}


def test_relative_extends_is_looked_up_in_the_configs_folder(tmp_path, monkeypatch):
    """A copy of a shipped config elsewhere still finds its base (the flow's parser sees text only)."""
    from medtx.config import load_config_dict

    copy = _write(tmp_path, "mine.json", {"extends": "local.json", "env": "mine", "train": {"epochs": 1}})
    s = load_settings(copy)
    assert (s.env, s.train.epochs, s.model.max_length) == ("mine", 1, 128)
    text = json.dumps({"extends": "prod.json", "train": {"epochs": 2}})
    assert parse_settings(parse_config(text)).deploy.stages == ["prod"]
    assert parse_settings({"extends": "dev.json", "env": "d2"}).project.branch == "dev"

    monkeypatch.setenv("MEDTX_CONFIG_DIR", str(tmp_path))  # another configs folder
    _write(tmp_path, "local.json", {"env": "other"})
    assert load_config_dict(copy)["env"] == "mine" and load_settings(copy).model.max_length == 128
    assert "train" in load_config_dict(copy) and load_settings(copy).train.epochs == 1


def test_a_cycle_of_extends_names_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTX_CONFIG_DIR", str(tmp_path))
    a = _write(tmp_path, "a.json", {"extends": "b.json", "env": "a"})
    _write(tmp_path, "b.json", {"extends": "a.json"})
    with pytest.raises(ConfigError, match=r"cycle: .*a\.json -> .*b\.json -> .*a\.json"):
        load_settings(a)
    _write(tmp_path, "self.json", {"extends": "self.json"})
    with pytest.raises(ConfigError, match=r"cycle: .*self\.json -> .*self\.json"):
        parse_config(json.dumps({"extends": "self.json", "env": "s"}))


def test_a_missing_or_bad_base_names_the_file(tmp_path):
    env = _write(tmp_path, "env.json", {"extends": "nope.json", "env": "e"})
    with pytest.raises(ConfigError, match=r"env\.json extends 'nope\.json', which is not a file"):
        load_settings(env)
    with pytest.raises(ConfigError, match=r"'extends' must name a config file"):
        load_settings(_write(tmp_path, "bad.json", {"extends": ["base.json"], "env": "e"}))
    _write(tmp_path, "list.json", "[1, 2]")
    with pytest.raises(ConfigError, match=r"list\.json must hold a JSON object"):
        load_settings(_write(tmp_path, "e2.json", {"extends": str(tmp_path / "list.json"), "env": "e"}))
    _write(tmp_path, "broken.json", "{nope")
    with pytest.raises(ConfigError, match=r"broken\.json is not valid JSON"):
        load_settings(_write(tmp_path, "e3.json", {"extends": str(tmp_path / "broken.json"), "env": "e"}))
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "absent.json")


@pytest.mark.parametrize("name", ["base.json", "cloud.json"])
def test_the_shared_layers_are_not_environments(name):
    with pytest.raises(ConfigError, match="missing required config key 'env'"):
        load_settings(ROOT / "configs" / name)


def test_environments_state_no_recipe_of_their_own():
    """The recipe lives in base.json; local says nothing about it, the cloud accounts take
    the GPU profile from cloud.json and state no model or train key themselves."""
    from medtx.config.loader import read_json

    for name in ("dev.json", "staging.json", "prod.json"):
        raw = read_json(ROOT / "configs" / name)
        assert raw["extends"] == "cloud.json"
        assert not {"model", "train", "labels", "split"} & set(raw)
    local = read_json(ROOT / "configs" / "local.json")
    assert local["extends"] == "base.json"
    assert not {"model", "train", "labels", "split"} & set(local)


def test_code_defaults_are_the_shipped_recipe():
    """A config that leaves a recipe key out gets what base.json ships (the local profile)."""
    shipped = load_settings(ROOT / "configs" / "local.json").to_dict()
    defaults = parse_settings({"env": "local"}).to_dict()
    for section in ("data", "labels", "split", "model", "train", "baseline"):
        assert defaults[section] == shipped[section], section


def test_one_knob_in_the_base_reaches_every_environment(tmp_path, monkeypatch):
    """A one-line edit of base.json changes the knob wherever no layer above sets it."""
    import shutil

    folder = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", folder)
    base = (folder / "base.json").read_text()
    edited = base.replace('"epochs": 6', '"epochs": 1').replace('"learning_rate": 3e-5', '"learning_rate": 1e-5')
    assert len([a for a, b in zip(base.splitlines(), edited.splitlines()) if a != b]) == 1
    (folder / "base.json").write_text(edited)
    monkeypatch.setenv("MEDTX_CONFIG_DIR", str(folder))
    envs = {name: load_settings(folder / f"{name}.json") for name in ("local", "dev", "staging", "prod")}
    assert {n: s.train.learning_rate for n, s in envs.items()} == dict.fromkeys(envs, 1e-5)
    # epochs is a profile knob: local runs the base's, the cloud accounts cloud.json's
    assert {n: s.train.epochs for n, s in envs.items()} == {"local": 1, "dev": 12, "staging": 12, "prod": 12}


# --- --set overrides ---------------------------------------------------------------------------

def test_overrides_parse_json_values_else_text():
    from medtx.config import parse_overrides

    got = parse_overrides(["train.epochs=1", "train.learning_rate=3e-5,train.compile=true",
                           "data.path=notes.csv", "data.path=null", "monitor.quality_floor=0.7",
                           'deploy.stages=["staging", "prod"],labels.preset=all40',
                           'model.name_or_path=bundled:all-MiniLM-L6-v2', 'env="42"', " split.seed = 7 "])
    assert got == {"train.epochs": 1, "train.learning_rate": 3e-5, "train.compile": True,
                   "data.path": None, "monitor.quality_floor": 0.7, "deploy.stages": ["staging", "prod"],
                   "labels.preset": "all40", "model.name_or_path": "bundled:all-MiniLM-L6-v2",
                   "env": "42", "split.seed": 7}
    assert parse_overrides(None) == {} and parse_overrides(()) == {} and parse_overrides("") == {}
    assert parse_overrides("train.epochs=1") == {"train.epochs": 1}
    assert list(parse_overrides(["a.b=1", "c.d=2", "a.b=3"])) == ["c.d", "a.b"]  # last one wins


@pytest.mark.parametrize("item", ["train.epochs", "=1", "train..epochs=1", "train epochs=1"])
def test_an_override_that_is_not_key_value_is_refused(item):
    from medtx.config import parse_overrides

    with pytest.raises(ConfigError, match="is not section.key=value"):
        parse_overrides([item])


def test_overrides_apply_over_the_environment(settings):
    from medtx.config import parse_overrides, settings_from

    s = load_settings(ROOT / "configs" / "prod.json",
                      parse_overrides(["train.epochs=1,model.max_length=256", "labels.preset=all40"]))
    assert (s.env, s.train.epochs, s.model.max_length, s.model.head_tokens) == ("prod", 1, 256, 128)
    assert s.labels.preset == "all40" and s.train.batch_size == 32
    # a run's config artifact (the complete dict) and a Settings take them the same way
    assert settings_from(settings.to_dict(), {"train.epochs": 1}).train.epochs == 1
    assert settings_from(settings, {"train.epochs": 1}).train.epochs == 1
    # free-form maps take new names: a stage, an account, a label merge
    s = settings_from(settings, {"deploy.targets.qa.port": 9000, "labels.merge.Urology": "Nephrology"})
    assert s.deploy.targets["qa"].port == 9000 and s.labels.merge == {"Urology": "Nephrology"}


@pytest.mark.parametrize("override, message", [
    ({"train.epoch": 3}, r"unknown config key 'train\.epoch': section 'train' has no key 'epoch' "
                         r"\(it has: epochs, batch_size"),
    ({"trian.epochs": 3}, r"unknown config key 'trian\.epochs': the config has no key 'trian'"),
    ({"train.epochs.value": 3}, r"'train\.epochs' is a value, not a section"),
    ({"deploy.targets.prod.prot": 1}, r"section 'deploy\.targets\.prod' has no key 'prot'"),
    ({"train": {"epoch": 3}}, r"unknown config key 'train\.epoch'"),
])
def test_unknown_override_keys_are_refused_by_name(settings, override, message):
    from medtx.config import settings_from

    with pytest.raises(ConfigError, match=message):
        settings_from(settings, override)


def test_a_bad_override_value_names_the_key_and_the_override(settings):
    from medtx.config import parse_overrides, settings_from

    with pytest.raises(ConfigError, match=r"'train\.epochs' must be an integer, got float 1\.5 "
                                          r"\(with --set train\.epochs=1\.5\)"):
        settings_from(settings, parse_overrides("train.epochs=1.5"))
    with pytest.raises(ConfigError, match=r"'train\.epochs' must be >= 1, got int 0"):
        settings_from(settings, parse_overrides("train.epochs=0"))
    with pytest.raises(ConfigError, match=r"'labels\.preset' must be 'all40', 'spec12' or 'custom'"):
        settings_from(settings, parse_overrides("labels.preset=spec13"))


# --- value bounds are annotations; errors name the key -----------------------------------------

@pytest.mark.parametrize("raw, message", [
    ({"split": {"test_size": 1.2}}, r"'split\.test_size' must be < 1, got float 1\.2"),
    ({"split": {"val_size": 0}}, r"'split\.val_size' must be > 0, got int 0"),
    ({"train": {"learning_rate": 0}}, r"'train\.learning_rate' must be > 0"),
    ({"train": {"batch_size": 0}}, r"'train\.batch_size' must be >= 1"),
    ({"train": {"warmup_ratio": 1.0}}, r"'train\.warmup_ratio' must be < 1"),
    ({"train": {"precision": "fp16"}}, r"'train\.precision' must be 'auto', 'bf16' or 'fp32'"),
    ({"model": {"max_length": 8}}, r"'model\.max_length' must be >= 16"),
    ({"model": {"pooling": "cls"}}, r"'model\.pooling' must be 'model' or 'mean'"),
    ({"data": {"max_encoding_damage_frac": 1.5}}, r"'data\.max_encoding_damage_frac' must be <= 1"),
    ({"gate": {"min_macro_f1": 1.2}}, r"'gate\.min_macro_f1' must be <= 1"),
    ({"compute": {"memory": 0}}, r"'compute\.memory' must be >= 1"),
    ({"serving": {"port": 70000}}, r"'serving\.port' must be <= 65535"),
    ({"serving": {"capture_percent": -1}}, r"'serving\.capture_percent' must be >= 0"),
    ({"monitor": {"alpha": 1}}, r"'monitor\.alpha' must be < 1"),
    ({"monitor": {"permutations": 10}}, r"'monitor\.permutations' must be >= 19"),
    ({"deploy": {"targets": {"prod": {"port": 0}}, "stages": ["prod"]}},
     r"'deploy\.targets\.prod\.port' must be >= 1"),
])
def test_value_bounds_name_the_dotted_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings({"env": "x", **raw})
