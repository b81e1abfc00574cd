"""DeployFlow's rules, without servers: what may be deployed where, and which version is chosen."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from medtx.deploy.base import DeployError
from medtx.registry import APPROVED, PENDING, REJECTED, ModelVersion
from medtx.stages.deploy import Selection, check_allowed, triggering_version


def _selection(status: str = APPROVED, is_demo: bool = False) -> Selection:
    version = ModelVersion(group="g", version=4, status=status, created_at="2026-12-01T00:00:00Z",
                           artifact_uri="a", evaluation_uri="e")
    return Selection(version=version, chosen_because="requested", package_dir="/pkg",
                     is_demo=is_demo, evaluated_accuracy=0.8, train_run="TrainFlow/1")


@pytest.fixture
def cloud(settings):
    from medtx.config import parse_settings

    raw = settings.to_dict()
    raw["env"] = "prod"
    raw["deploy"]["targets"] = {"staging": {"target": "local", "port": 8091},
                                "prod": {"target": "sagemaker", "approval": "manual"}}
    return parse_settings(raw)


@pytest.mark.parametrize("status", [REJECTED, PENDING])
def test_only_approved_versions_are_deployed(cloud, status):
    for stage in ("staging", "prod"):
        with pytest.raises(DeployError, match=f"is {status}"):
            check_allowed(_selection(status), stage, cloud)


def test_a_demo_model_stays_on_local_targets_of_a_local_environment(settings, cloud):
    check_allowed(_selection(is_demo=True), "staging", settings)  # local env, local target: fine
    with pytest.raises(DeployError, match="synthetic demo"):
        check_allowed(_selection(is_demo=True), "prod", cloud)  # SageMaker target
    with pytest.raises(DeployError, match="synthetic demo"):
        check_allowed(_selection(is_demo=True), "staging", cloud)  # local target, env prod
    check_allowed(_selection(is_demo=False), "prod", cloud)  # a real-data Approved model: fine


def test_the_triggering_run_names_its_registered_version():
    run = SimpleNamespace(tags={"model_version:7", "approval:Approved", "model_group:g"},
                          pathspec="TrainFlow/12")
    assert triggering_version(SimpleNamespace(run=run)) == (7, "TrainFlow/12")
    assert triggering_version(SimpleNamespace(run=None)) is None
    assert triggering_version(None) is None
    untagged = SimpleNamespace(run=SimpleNamespace(tags={"approval:Rejected"}, pathspec="TrainFlow/3"))
    assert triggering_version(untagged) is None
