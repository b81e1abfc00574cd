"""Every flow compiled for Argo Workflows with every account config, without a cluster.

``argo-workflows create`` runs for real: the code package goes to S3 on a moto server, and the
Kubernetes API it submits to is a local HTTP server on 127.0.0.1 that records each custom object
(WorkflowTemplate, CronWorkflow, Sensor). The emulator is reached through ``AWS_ENDPOINT_URL_S3``,
which Metaflow does not copy into manifests, and the test checks that nothing of it leaks.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("kubernetes", reason="argo-workflows create needs the kubernetes package "
                    "(pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[2]
FLOWS = {"TrainFlow": "train_flow.py", "DeployFlow": "deploy_flow.py", "MonitorFlow": "monitor_flow.py"}
STEP_IMAGE = "registry.example/medtx-steps:test"
NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}


@pytest.fixture(scope="module")
def kube_api():
    """``(url, submitted)``: a fake Kubernetes API; ``submitted`` collects POSTed objects."""
    submitted: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - http.server's naming; nothing exists yet
            self._reply(404, NOT_FOUND)

        do_DELETE = do_GET

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            submitted.append(body)
            self._reply(201, body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", submitted
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def deploy_env(kube_api, moto_endpoint, tmp_path_factory):
    """The environment of an operator's shell that deploys to Argo (with the emulators)."""
    import boto3

    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket="medtx-metaflow-test")
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: fake, cluster: {{server: \"{kube_api[0]}\"}}}}]\n"
        "users: [{name: op, user: {token: fake}}]\n"
        "contexts: [{name: c, context: {cluster: fake, user: op, namespace: medtx}}]\n"
        "current-context: c\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("METAFLOW_", "AWS_ENDPOINT_URL", "KUBERNETES_"))}
    env.update({
        "USER": "operator", "KUBECONFIG": str(kubeconfig), "AWS_ENDPOINT_URL_S3": moto_endpoint,
        "METAFLOW_DEFAULT_DATASTORE": "s3", "METAFLOW_DATASTORE_SYSROOT_S3": "s3://medtx-metaflow-test/mf",
        "METAFLOW_DEFAULT_METADATA": "local", "METAFLOW_KUBERNETES_NAMESPACE": "medtx",
        "METAFLOW_KUBERNETES_CONTAINER_IMAGE": STEP_IMAGE,
        "METAFLOW_ARGO_EVENTS_EVENT": "medtx-events", "METAFLOW_ARGO_EVENTS_EVENT_SOURCE": "medtx-webhook",
        "METAFLOW_ARGO_EVENTS_SERVICE_ACCOUNT": "operate-workflow-sa",
        "METAFLOW_ARGO_EVENTS_WEBHOOK_URL": "http://medtx-webhook-eventsource-svc.argo-events:12000/medtx",
    })
    return env


def _create(flow_file: str, config: str, env: dict, submitted: list) -> dict:
    """``argo-workflows create`` for one flow; ``{kind: object}`` of what it submitted."""
    before = len(submitted)
    out = subprocess.run([sys.executable, str(ROOT / "flows" / flow_file), "--config", "cfg",
                          str(ROOT / "configs" / config), "argo-workflows", "create"],
                         env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return {obj["kind"]: obj for obj in submitted[before:]}


@pytest.fixture(scope="module", params=["dev.json", "staging.json", "prod.json"])
def compiled(request, deploy_env, kube_api):
    from medtx.config import load_settings

    settings = load_settings(ROOT / "configs" / request.param)
    return settings, {flow: _create(f, request.param, deploy_env, kube_api[1]) for flow, f in FLOWS.items()}


def _branch(settings) -> str:
    p = settings.project
    return "prod" if p.production and not p.branch else (
        f"prod.{p.branch}" if p.production else f"test.{p.branch}")


def _templates(wt: dict) -> dict:
    return {t["name"]: t for t in wt["spec"]["templates"] if t.get("container")}


def test_each_flow_is_a_workflow_template_of_its_project_branch(compiled, moto_endpoint):
    settings, objs = compiled
    branch = _branch(settings)
    for flow, kinds in objs.items():
        wt = kinds["WorkflowTemplate"]
        assert wt["metadata"]["name"] == f"medtx.{branch}.{flow.lower()}"
        annotations = wt["metadata"]["annotations"]
        assert annotations["metaflow/project_name"] == "medtx"
        assert annotations["metaflow/branch_name"] == branch
        text = json.dumps(kinds)
        host = moto_endpoint.split("//")[1]
        assert host not in text and "127.0.0.1" not in text and "moto" not in text.lower()
        for name, template in _templates(wt).items():
            assert template["container"]["image"] in (STEP_IMAGE, settings.compute.image), name


def test_the_fine_tune_step_asks_for_its_gpu_and_training_image(compiled):
    settings, objs = compiled
    finetune = _templates(objs["TrainFlow"]["WorkflowTemplate"])["finetune"]["container"]
    assert finetune["image"] == settings.compute.image
    assert finetune["resources"]["limits"]["nvidia.com/gpu"] == str(settings.compute.gpu)
    assert not any("nvidia.com/gpu" in (t["container"].get("resources") or {}).get("limits", {})
                   for name, t in _templates(objs["TrainFlow"]["WorkflowTemplate"]).items()
                   if name != "finetune")


def test_schedules_are_cron_workflows_where_the_config_sets_them(compiled):
    settings, objs = compiled
    expected = {"TrainFlow": settings.monitor.retrain_schedule, "DeployFlow": settings.deploy.schedule,
                "MonitorFlow": settings.monitor.schedule}
    for flow, cron in expected.items():
        got = objs[flow].get("CronWorkflow")
        if cron:
            assert got is not None and got["spec"]["schedule"] == cron, flow
        else:
            assert got is None, f"{flow} has a schedule the config does not set"


def test_sensors_start_deploys_on_train_ends_and_retrains_on_the_event(compiled):
    settings, objs = compiled
    branch = _branch(settings)
    assert "Sensor" not in objs["MonitorFlow"]
    deploy = objs["DeployFlow"]["Sensor"]
    if settings.deploy.handoff_event:  # an account that deploys what another account approved
        exprs = [e["expr"] for d in deploy["spec"]["dependencies"] for e in d["filters"]["exprs"]]
        assert exprs == [f"name == '{settings.deploy.handoff_event}'"]
        mapped = {p["dest"]: p["src"].get("dataTemplate") or ""
                  for p in deploy["spec"]["triggers"][0]["template"]["k8s"]["parameters"]}
        assert '"model_package_arn"' in mapped["spec.arguments.parameters.#(name=model_package).value"]
        assert "TrainFlow.end" not in json.dumps(deploy)
    else:
        assert f"metaflow.medtx.{branch}.TrainFlow.end" in json.dumps(deploy)
    train = objs["TrainFlow"]["Sensor"]
    text = json.dumps(train)
    assert settings.monitor.retrain_event in text
    exprs = [e["expr"] for d in train["spec"]["dependencies"] for e in d["filters"]["exprs"]]
    assert exprs == [f"name == '{settings.monitor.retrain_event}'"]
    params = train["spec"]["triggers"][0]["template"]["k8s"]["parameters"]
    mapped = {p["dest"]: p["src"].get("dataTemplate") or "" for p in params}
    # the payload field retrain_request fills TrainFlow's parameter of that name
    assert '"retrain_request"' in mapped["spec.arguments.parameters.#(name=retrain_request).value"]
