"""The cross-account hand-off on moto (STS, two accounts) with the prod account's Argo Events
webhook as a recording HTTP server on 127.0.0.1: an Approved version in the registry account
reaches prod as its package ARN; prod's DeployFlow reads it through the registry account's role;
a failing webhook fails the step with a clear error."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from medtx.aws import session as aws_session
from medtx.config import parse_settings
from medtx.deploy.base import DeployError
from medtx.deploy.handoff import HandoffError, hand_off
from medtx.registry import APPROVED, open_registry

REGISTRY, PROD = "111111111111", "666666666666"
READER = f"arn:aws:iam::{REGISTRY}:role/medtx-registry-read"


@pytest.fixture
def webhook():
    """``(url, received, set_status)`` of a webhook that records each event it is sent."""
    received, status = [], [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append({"body": json.loads(self.rfile.read(int(self.headers["Content-Length"]))),
                             "auth": self.headers.get("Authorization")})
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/medtx", received, lambda c: status.__setitem__(0, c)
    server.shutdown()
    server.server_close()


def _evaluation():
    from medtx.evaluation.ceiling import label_ceiling
    from medtx.evaluation.document import build_evaluation
    from medtx.evaluation.scoring import evaluate_system

    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    scores = rng.normal(size=(60, 2)) + np.eye(2)[y] * 2.0
    system = evaluate_system("model", scores[:40], y[:40], scores, y, ["A", "B"])
    return build_evaluation(system, evaluate_system("baseline", scores[:40] * 0.5, y[:40], scores * 0.5, y, ["A", "B"]),
                            {"pathspec": "TrainFlow/7/evaluate/3"}, label_ceiling(y, list(range(60)), 2))


@pytest.fixture
def accounts(moto_endpoint, s3_bucket, webhook, monkeypatch):
    """(registry-account settings, prod-account settings) sharing one model package group."""
    aws_session.clear_sessions()
    monkeypatch.setenv("MEDTX_PROD_WEBHOOK", "s3cret")
    group = "medtx-handoff"
    raw = {"env": "prod", "registry": {"backend": "sagemaker", "group": group, "account": "registry",
                                       "s3_prefix": f"s3://{s3_bucket}/registry"}}
    source = parse_settings({**raw, "aws": {
        "region": "us-east-1", "endpoint_url": moto_endpoint, "account_id": REGISTRY,
        "accounts": {"registry": {"account_id": REGISTRY, "role_arn": f"arn:aws:iam::{REGISTRY}:role/medtx-pipeline"}}},
        "deploy": {"handoff_to": {"prod": {"webhook_url": webhook[0], "token_env": "MEDTX_PROD_WEBHOOK",
                                           "attempts": 2}}}})
    prod = parse_settings({**raw, "aws": {
        "region": "us-east-1", "endpoint_url": moto_endpoint, "account_id": PROD,
        "role_arn": f"arn:aws:iam::{PROD}:role/medtx-prod-deploy",
        "accounts": {"registry": {"account_id": REGISTRY, "role_arn": READER}}},
        "deploy": {"handoff_event": "medtx.model-approved"}})
    # the bucket lives in the registry account (moto keeps accounts apart by credentials)
    aws_session.client(source.aws, "s3", account="registry").create_bucket(Bucket=f"{s3_bucket}-reg")
    source = source.with_overrides(registry={"s3_prefix": f"s3://{s3_bucket}-reg/registry"})
    prod = prod.with_overrides(registry={"s3_prefix": f"s3://{s3_bucket}-reg/registry"})
    yield source, prod
    aws_session.clear_sessions()


def _approved(settings, make_package):
    from medtx.evaluation.document import evaluation_json
    from medtx.modeling.package import add_files

    pkg = make_package(0)
    evaluation = _evaluation()
    add_files(pkg, {"evaluation.json": evaluation_json(evaluation)})
    registry = open_registry(settings)
    return registry.register(pkg, evaluation, APPROVED, ["gate passed"], {"pathspec": "TrainFlow/7"}, "trainer")


def test_an_approved_version_reaches_prod_as_its_package_arn(accounts, webhook, make_package, tmp_path):
    from medtx.stages.deploy import choose

    source, prod = accounts
    url, received, _ = webhook
    version = _approved(source, make_package)
    assert version.arn.startswith(f"arn:aws:sagemaker:us-east-1:{REGISTRY}:model-package/medtx-handoff/")
    (receipt,) = hand_off(source, version)
    (got,) = received
    assert got["auth"] == "Bearer s3cret" and got["body"]["name"] == "medtx.model-approved"
    payload = got["body"]["payload"]
    assert payload["model_package_arn"] == version.arn and payload["model_version"] == str(version.version)
    assert payload["id"] == receipt.event_id and payload["registry_account"] == REGISTRY
    assert "TrainFlow" not in json.dumps(payload)  # a pathspec means nothing in another account

    # prod's DeployFlow, started by that event with model_package = the ARN
    prod = prod.with_overrides(registry={"path": str(tmp_path / "prod-cache")})
    selection = choose(prod, model_package=payload["model_package_arn"])
    assert selection.version.version == version.version and selection.version.status == APPROVED
    assert selection.chosen_because == f"hand-off {version.arn}"
    # without the registry account's role the prod account sees no such group
    alone = prod.with_overrides(registry={"account": None})
    assert open_registry(alone).list() == []
    with pytest.raises(DeployError, match="refused"):
        choose(prod, model_package=version.arn.replace("medtx-handoff", "another-group"))
    with pytest.raises(HandoffError, match="not a versioned SageMaker model package ARN"):
        choose(prod, model_package="TrainFlow/7")


def test_a_failing_webhook_fails_the_hand_off_with_a_clear_error(accounts, webhook, make_package):
    source, _ = accounts
    _, received, set_status = webhook
    version = _approved(source, make_package)
    set_status(503)
    with pytest.raises(HandoffError, match=r"failed after 2 attempt\(s\): HTTP 503") as err:
        hand_off(source, version)
    assert f"medtx models announce {version.version}" in str(err.value) and len(received) == 2
    set_status(403)  # refused: not retried
    with pytest.raises(HandoffError, match="HTTP 403"):
        hand_off(source, version)
    assert len(received) == 3


def test_the_group_resource_policy_grants_prod_read_only(accounts):
    from medtx.errors import RegistryError
    from medtx.registry.sagemaker import read_policy

    source, _ = accounts
    arn = f"arn:aws:sagemaker:us-east-1:{REGISTRY}:model-package-group/medtx-handoff"
    (stmt,) = read_policy(arn, [PROD])["Statement"]
    assert stmt["Principal"] == {"AWS": [f"arn:aws:iam::{PROD}:root"]}
    assert stmt["Resource"] == [arn, f"arn:aws:sagemaker:us-east-1:{REGISTRY}:model-package/medtx-handoff/*"]
    assert all(a.startswith(("sagemaker:Describe", "sagemaker:List")) for a in stmt["Action"])
    # moto has no put_model_package_group_policy: the gap stays behind the adapter, named
    with pytest.raises(RegistryError, match="put_model_package_group_policy failed"):
        open_registry(source).share_with([PROD])
