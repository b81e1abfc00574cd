"""One contract, two backends: the local SQLite registry and SageMaker (on a moto server)."""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import tarfile
import threading
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from medtx.cli.models import add_models_parser
from medtx.errors import IntegrityError, ModelLoadError, RegistryError
from medtx.evaluation.ceiling import label_ceiling
from medtx.evaluation.document import build_evaluation
from medtx.evaluation.scoring import evaluate_system
from medtx.registry import (
    APPROVED,
    PENDING,
    REJECTED,
    STATUSES,
    TRANSITIONS,
    open_registry,
    run_tags,
    transition_allowed,
)
from medtx.registry.base import file_listing
from medtx.registry.refs import resolve_model_ref


def _scores(y: np.ndarray, strength: float, seed: int) -> np.ndarray:
    """Noisy two-class scores whose true column gets ``strength`` extra."""
    scores = np.random.default_rng(seed).normal(size=(len(y), 2))
    scores[np.arange(len(y)), y] += strength
    return scores


def _evaluation():
    """A real evaluation document: a model that beats its baseline on 60 test rows."""
    y_val, y_test = np.arange(40) % 2, np.arange(60) % 2
    model = evaluate_system("model", _scores(y_val, 2.0, 1), y_val, _scores(y_test, 2.0, 2),
                            y_test, ["A", "B"])
    base = evaluate_system("baseline", _scores(y_val, 0.8, 3), y_val, _scores(y_test, 0.8, 4),
                           y_test, ["A", "B"])
    return build_evaluation(model, base, {"pathspec": "TrainFlow/17/evaluate/41"},
                            label_ceiling(y_test, list(range(60)), 2))


EVAL = _evaluation()
LINEAGE = {"pathspec": "TrainFlow/17/register/42", "data_hash": "ab12" * 16, "git_commit": "f00d" * 10}


@pytest.fixture
def registry(registry_settings):
    return open_registry(registry_settings)


def _register(registry, make_package, status=PENDING, seed=0, reasons=(), actor="trainer"):
    return registry.register(make_package(seed), EVAL, status, list(reasons), LINEAGE, actor)


def test_versions_count_up_and_keep_what_was_registered(registry, make_package):
    first = _register(registry, make_package, PENDING, seed=1)
    second = _register(registry, make_package, REJECTED, seed=2, reasons=["min_macro_f1: too low"])
    third = _register(registry, make_package, APPROVED, seed=1)
    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert [v.status for v in registry.list()] == [PENDING, REJECTED, APPROVED]
    got = registry.get(2)
    assert got.reasons == ["min_macro_f1: too low"]
    assert got.lineage == LINEAGE
    # the model's test metrics, the baseline's and the margin: what `models list/show` print
    assert got.metrics == pytest.approx(EVAL.registry_metrics(), abs=1e-5)
    assert got.metrics["macro_f1"] == pytest.approx(EVAL.model.macro_f1, rel=1e-5)
    assert got.metrics["baseline_macro_f1"] == pytest.approx(EVAL.baseline.macro_f1, rel=1e-5)
    assert got.metrics["margin_macro_f1"] == pytest.approx(EVAL.margin["macro_f1"], abs=1e-5)
    assert got.metrics["accuracy"] == pytest.approx(EVAL.model.accuracy, rel=1e-5)
    assert EVAL.model.accuracy > 0.8 and EVAL.margin["macro_f1"] > 0
    assert got.group == registry.group and got.created_at.endswith("Z")
    assert third.package_sha256 == first.package_sha256 != second.package_sha256
    assert third.artifact_uri == first.artifact_uri  # identical packages dedupe
    assert run_tags(third) == [f"model_group:{registry.group}", "model_version:3", "approval:Approved"]


@pytest.mark.parametrize(("current", "target"), sorted(TRANSITIONS))
def test_every_allowed_transition_is_applied_and_audited(registry, make_package, current, target):
    mv = _register(registry, make_package, current)
    action, needs_force = TRANSITIONS[(current, target)]
    changed = registry.set_status(mv.version, target, reason="  reviewed by QA  ", actor="alice",
                                  force=needs_force)
    assert changed.status == target == registry.get(mv.version).status
    last = registry.history(mv.version)[-1]
    assert (last.action, last.from_status, last.to_status) == (action, current, target)
    assert (last.actor, last.reason) == ("alice", "reviewed by QA")


def test_refused_transitions_change_nothing(registry, make_package):
    rejected = _register(registry, make_package, REJECTED, reasons=["margin_over_baseline: -0.02"])
    with pytest.raises(RegistryError, match="needs --force"):
        registry.set_status(rejected.version, APPROVED, reason="looks fine", actor="bob")
    with pytest.raises(RegistryError, match="needs --force"):
        registry.set_status(rejected.version, PENDING, reason="again", actor="bob")
    with pytest.raises(RegistryError, match="needs a reason"):
        registry.set_status(rejected.version, APPROVED, reason="  ", actor="bob", force=True)
    with pytest.raises(RegistryError, match="already Rejected"):
        registry.set_status(rejected.version, REJECTED, reason="twice", actor="bob")
    with pytest.raises(RegistryError, match="unknown status 'Deployed'"):
        registry.set_status(rejected.version, "Deployed", reason="x", actor="bob")
    with pytest.raises(RegistryError, match=f"no version 99 in group '{registry.group}'"):
        registry.set_status(99, APPROVED, reason="x", actor="bob")
    with pytest.raises(RegistryError, match="no version 99"):
        registry.get(99)
    with pytest.raises(RegistryError, match="no version 99"):
        registry.history(99)
    with pytest.raises(RegistryError, match="unknown status"):
        registry.list("approved")
    with pytest.raises(RegistryError, match="unknown status"):
        registry.register(make_package(5), EVAL, "Staging", [], LINEAGE, "bob")
    assert registry.get(rejected.version).status == REJECTED
    assert [e.action for e in registry.history(rejected.version)] == ["register"]
    assert [v.version for v in registry.list()] == [1]


def test_transition_table_as_a_function():
    assert transition_allowed(PENDING, APPROVED, False, "ok") == "approve"
    assert transition_allowed(REJECTED, APPROVED, True, "override") == "force_approve"
    for current in STATUSES:
        with pytest.raises(RegistryError, match="already"):
            transition_allowed(current, current, True, "x")
    with pytest.raises(RegistryError, match="unknown status"):
        transition_allowed("Archived", APPROVED, True, "x")
    with pytest.raises(RegistryError, match="needs a reason"):
        transition_allowed(PENDING, APPROVED, False, "")


def test_audit_trail_records_who_what_when_why(registry, make_package):
    mv = _register(registry, make_package, PENDING, actor="pipeline")
    registry.set_status(mv.version, APPROVED, reason="metrics reviewed", actor="alice")
    registry.set_status(mv.version, REJECTED, reason="bias found in review", actor="bob")
    registry.set_status(mv.version, APPROVED, reason="fixed upstream; override", actor="carol",
                        force=True)
    events = registry.history(mv.version)
    assert [(e.actor, e.action, e.from_status, e.to_status) for e in events] == [
        ("pipeline", "register", None, PENDING),
        ("alice", "approve", PENDING, APPROVED),
        ("bob", "reject", APPROVED, REJECTED),
        ("carol", "force_approve", REJECTED, APPROVED),
    ]
    assert events[3].reason == "fixed upstream; override"
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert all(e.at.endswith("Z") and e.version == mv.version for e in events)


def test_list_filter_latest_and_resolve(registry, make_package):
    with pytest.raises(RegistryError, match="has no Approved version"):
        registry.resolve("approved")
    assert registry.latest() is None
    for seed, status in enumerate([APPROVED, REJECTED, PENDING, APPROVED]):
        _register(registry, make_package, status, seed=seed)
    assert [v.version for v in registry.list(APPROVED)] == [1, 4]
    assert [v.version for v in registry.list(REJECTED)] == [2]
    assert registry.latest().version == 4
    assert registry.latest(PENDING).version == 3
    assert registry.resolve("latest").version == 4
    assert registry.resolve("approved").version == 4
    assert registry.resolve("2").version == registry.resolve("v2").version == 2
    registry.set_status(4, REJECTED, reason="regression in production", actor="ops")
    assert registry.resolve("approved").version == 1
    with pytest.raises(RegistryError, match="bad model reference"):
        registry.resolve("champion")


def test_fetch_round_trip_is_verified_and_idempotent(registry, make_package, tmp_path):
    source = make_package(7)
    mv = registry.register(source, EVAL, APPROVED, [], LINEAGE, "trainer")
    dest = registry.fetch(mv.version, tmp_path / "fetched" / "v1")
    assert file_listing(dest) == file_listing(source)
    assert (dest / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    assert registry.fetch(mv.version, dest) == dest  # already there: verified, not re-copied


def test_register_refuses_a_package_that_does_not_match_its_manifest(registry, make_package):
    package = make_package(3)
    (package / "model.safetensors").write_bytes(b"swapped weights")
    with pytest.raises(IntegrityError, match="model.safetensors"):
        registry.register(package, EVAL, PENDING, [], LINEAGE, "trainer")
    assert registry.list() == []


def _tamper_stored_artifact(registry, registry_settings, mv) -> None:
    """Change one byte of ``model.safetensors`` where the registry keeps the artifact."""
    if registry_settings.registry.backend == "local":
        target = Path(mv.artifact_uri) / "model.safetensors"
        target.chmod(0o644)
        target.write_bytes(b"X" + target.read_bytes()[1:])
        return
    import boto3

    from medtx.aws.s3 import split_s3_uri

    s3 = boto3.client("s3", endpoint_url=registry_settings.aws.endpoint_url, region_name="us-east-1")
    bucket, key = split_s3_uri(mv.artifact_uri)
    stored = io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    out = io.BytesIO()
    with tarfile.open(fileobj=stored) as original, tarfile.open(fileobj=out, mode="w:gz") as tar:
        for member in original.getmembers():
            data = original.extractfile(member).read()
            if member.name == "model.safetensors":
                data = b"X" + data[1:]
            tar.addfile(member, io.BytesIO(data))
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue())


def test_tampered_artifact_is_refused_at_fetch(registry, registry_settings, make_package, tmp_path):
    mv = _register(registry, make_package, APPROVED, seed=4)
    _tamper_stored_artifact(registry, registry_settings, mv)
    with pytest.raises(IntegrityError, match="model.safetensors"):
        registry.fetch(mv.version, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tampered_fetched_copy_is_refused_even_with_a_rewritten_manifest(
        registry, make_package, tmp_path):
    mv = _register(registry, make_package, APPROVED, seed=6)
    dest = registry.fetch(mv.version, tmp_path / "cache")
    (dest / "config.json").write_text('{"id2label": {"0": "B", "1": "A"}}')
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["files"]["config.json"] = hashlib.sha256((dest / "config.json").read_bytes()).hexdigest()
    (dest / "manifest.json").write_text(json.dumps(manifest))  # consistent, but not what was registered
    with pytest.raises(IntegrityError, match="config.json"):
        registry.fetch(mv.version, dest)


def _skip_concurrency_on_moto(registry_settings) -> None:
    if registry_settings.registry.backend == "sagemaker":
        pytest.skip("moto numbers model packages as len(group)+1 without a lock, so concurrent "
                    "creates can collide; real SageMaker assigns ModelPackageVersion server-side")


def test_eight_concurrent_thread_registrations(registry_settings, make_package):
    _skip_concurrency_on_moto(registry_settings)
    packages = [make_package(seed % 4) for seed in range(8)]  # pairs share content: dedupe race
    results, errors = [], []

    def work(package: Path) -> None:
        try:  # each thread opens its own registry, as separate callers would
            results.append(open_registry(registry_settings).register(
                package, EVAL, PENDING, [], LINEAGE, "thread"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in packages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _assert_eight_distinct(open_registry(registry_settings), results, packages=4)


def _register_in_process(settings, package: str):
    """Process entry point (module level so the spawn start method can import it)."""
    mv = open_registry(settings).register(Path(package), EVAL, PENDING, [], LINEAGE, "process")
    return mv.version, mv.package_sha256


def test_eight_concurrent_process_registrations(registry_settings, make_package):
    _skip_concurrency_on_moto(registry_settings)
    packages = [str(make_package(seed)) for seed in range(8)]
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        outcomes = pool.starmap(_register_in_process, [(registry_settings, p) for p in packages])
    registry = open_registry(registry_settings)
    assert sorted(v for v, _ in outcomes) == list(range(1, 9))
    _assert_eight_distinct(registry, [registry.get(v) for v, _ in outcomes], packages=8)


def _assert_eight_distinct(registry, results, packages: int) -> None:
    assert sorted(mv.version for mv in results) == list(range(1, 9))
    listed = registry.list()
    assert [v.version for v in listed] == list(range(1, 9))
    assert len({v.package_sha256 for v in listed}) == packages
    for mv in listed:
        assert [e.action for e in registry.history(mv.version)] == ["register"]
        assert len(file_listing(Path(mv.artifact_uri))) == 5  # the stored package is complete


# --- medtx models ... (argparse handlers, as the top-level command calls them) ---------------

def _cli(config: Path, *argv: str) -> object:
    parser = argparse.ArgumentParser(prog="medtx")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", *argv, "--config", str(config), "--json"])
    out = io.StringIO()
    with redirect_stdout(out):
        assert args.func(args) == 0
    return json.loads(out.getvalue())


@pytest.fixture
def config_file(registry_settings, tmp_path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(registry_settings.to_dict()))
    return path


def test_cli_list_show_approve_reject_history(registry, config_file, make_package, monkeypatch):
    monkeypatch.setenv("MEDTX_ACTOR", "reviewer")
    _register(registry, make_package, PENDING, seed=1)
    _register(registry, make_package, REJECTED, seed=2, reasons=["min_accuracy: 0.2 < 0.3"])
    assert [v["version"] for v in _cli(config_file, "list")] == [1, 2]
    assert [v["version"] for v in _cli(config_file, "list", "--status", REJECTED)] == [2]
    shown = _cli(config_file, "show", "2")
    assert shown["reasons"] == ["min_accuracy: 0.2 < 0.3"] and shown["lineage"] == LINEAGE
    assert [e["action"] for e in shown["history"]] == ["register"]
    approved = _cli(config_file, "approve", "1", "--reason", "signed off")
    assert approved["status"] == APPROVED
    assert approved["event"]["actor"] == "reviewer" and approved["event"]["reason"] == "signed off"
    with pytest.raises(RegistryError, match="needs --force"):
        _cli(config_file, "approve", "2", "--reason", "ship it")
    forced = _cli(config_file, "approve", "2", "--reason", "clinician review", "--force")
    assert forced["event"]["action"] == "force_approve"
    rejected = _cli(config_file, "reject", "latest", "--reason", "rolled back")
    assert rejected["version"] == 2 and rejected["status"] == REJECTED
    history = _cli(config_file, "history", "2")
    assert [e["action"] for e in history] == ["register", "force_approve", "reject"]
    assert _cli(config_file, "show", "approved")["version"] == 1
    with pytest.raises(RegistryError, match="no version 9"):
        _cli(config_file, "show", "9")
    with pytest.raises(RegistryError, match="unknown status"):
        _cli(config_file, "list", "--status", "Live")


def test_cli_human_output_and_required_reason(registry, config_file, make_package, capsys):
    _register(registry, make_package, PENDING, seed=1)
    parser = argparse.ArgumentParser(prog="medtx")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", "list", "--config", str(config_file)])
    assert args.func(args) == 0
    table = capsys.readouterr().out.splitlines()
    header, row = table[0].split(), table[1].split()
    assert header[:2] == ["VERSION", "STATUS"] and row[:2] == ["1", PENDING]
    columns = dict(zip(header, row))
    assert columns["MACRO_F1"] == f"{EVAL.model.macro_f1:.4f}"
    assert columns["BASELINE_F1"] == f"{EVAL.baseline.macro_f1:.4f}"
    assert columns["MARGIN"] == f"{EVAL.margin['macro_f1']:+.4f}"
    assert columns["ACCURACY"] == f"{EVAL.model.accuracy:.4f}"
    args = parser.parse_args(["models", "show", "1", "--config", str(config_file)])
    assert args.func(args) == 0
    shown = capsys.readouterr().out
    for key in ("macro_f1", "accuracy", "baseline_macro_f1", "baseline_accuracy", "margin_macro_f1"):
        assert f"  {key}: {EVAL.registry_metrics()[key]:.4f}" in shown
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["models", "approve", "1", "--config", str(config_file)])
    assert exit_info.value.code == 2


def test_resolve_model_ref(registry, registry_settings, make_package, tmp_path):
    local_dir = make_package(9)
    assert resolve_model_ref(str(local_dir), registry_settings, tmp_path / "cache") == local_dir
    with pytest.raises(ModelLoadError, match="neither an existing path"):
        resolve_model_ref(str(tmp_path / "nothing-here"), registry_settings, tmp_path / "cache")
    with pytest.raises(RegistryError, match="Approved"):
        resolve_model_ref("approved", registry_settings, tmp_path / "cache")
    mv = registry.register(local_dir, EVAL, APPROVED, [], LINEAGE, "trainer")
    fetched = resolve_model_ref("approved", registry_settings, tmp_path / "cache")
    assert fetched == tmp_path / "cache" / registry.group / mv.package_sha256
    assert file_listing(fetched) == file_listing(local_dir)
    assert resolve_model_ref(str(mv.version), registry_settings, tmp_path / "cache") == fetched


def test_medtx_main_exits_2_with_the_reason_on_a_refused_approval(
        registry, config_file, make_package, capsys):
    from medtx.cli.main import main

    _register(registry, make_package, REJECTED, reasons=["min_macro_f1: 0.2 < 0.3"])
    code = main(["models", "approve", "1", "--reason", "ship it", "--config", str(config_file)])
    assert code == 2
    assert "needs --force" in capsys.readouterr().err
    assert main(["models", "show", "1", "--config", str(config_file)]) == 0
    assert "status: Rejected" in capsys.readouterr().out
