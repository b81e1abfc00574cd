"""SageMaker endpoints on a moto server: models, both endpoint config kinds, create, update
(moto lacks update_endpoint, so the adapter's method is faked) and rollback."""
from __future__ import annotations

import dataclasses
import urllib.request

import pytest

from medtx.deploy import Candidate, DeployError
from medtx.deploy.sagemaker import RuntimeTransport, SageMakerEndpoints, deployment_config

BUCKET = "medtx-test"


@pytest.fixture
def sm_settings(settings, moto_endpoint):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return settings.with_overrides(
        aws={"endpoint_url": moto_endpoint, "s3_root": f"s3://{BUCKET}/root"},
        serving={"capture_to": None, "variant_name": "Blue"},
        deploy={"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/medtx-serve:1",
                "targets": {
                    "staging": {"target": "sagemaker", "serverless_memory_mb": 2048,
                                "serverless_max_concurrency": 4, "endpoint_name": "medtx-stg"},
                    "prod": {"target": "sagemaker", "instance_type": "ml.c5.xlarge",
                             "instance_count": 2, "capture_percent": 40.0, "traffic": "CANARY",
                             "canary_percent": 25, "wait_s": 120, "alarms": ["medtx-prod-5xx"]}}})


@pytest.fixture
def faked_update():
    """Replaces SageMakerApi.update_endpoint: records the call and swaps the config in moto."""
    calls = []

    def install(endpoints, stage):
        api = endpoints.api_for(stage)

        def update(name, config, deployment):
            calls.append((name, config, deployment))
            api.sm.delete_endpoint(EndpointName=name)
            api.sm.create_endpoint(EndpointName=name, EndpointConfigName=config)

        api.update_endpoint = update
        return api
    install.calls = calls
    return install


def candidate(version):
    return Candidate(version, group="medtx-specialty",
                     model_data_url=f"s3://{BUCKET}/models/v{version}/model.tar.gz")


def eps(settings, **kw):
    return SageMakerEndpoints.from_settings(settings, max_attempts=1, waiter_delay_s=1, **kw)


def test_serverless_and_realtime_configs(sm_settings):
    endpoints = eps(sm_settings)
    staged = endpoints.deploy("staging", candidate(1)).after
    prod = endpoints.deploy("prod", candidate(1)).after
    sm = endpoints.api_for("prod").sm

    assert (staged.version, staged.state, staged.address) == (1, "serving", "medtx-stg")
    cfg = sm.describe_endpoint_config(EndpointConfigName=staged.config_name)
    (variant,) = cfg["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 4}
    assert variant["VariantName"] == "Blue" and not cfg.get("DataCaptureConfig")  # moto shows {}
    model = sm.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
    assert model["ModelDataUrl"] == f"s3://{BUCKET}/models/v1/model.tar.gz"
    assert model["Image"].endswith("medtx-serve:1")
    assert model["Environment"]["MEDTX_MODEL_VERSION"] == "1"

    cfg = sm.describe_endpoint_config(EndpointConfigName=prod.config_name)
    (variant,) = cfg["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.xlarge", 2)
    capture = cfg["DataCaptureConfig"]
    assert capture["EnableCapture"] and capture["InitialSamplingPercentage"] == 40
    assert capture["DestinationS3Uri"] == f"s3://{BUCKET}/root/capture"
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert sm.describe_endpoint(EndpointName="medtx-prod")["EndpointStatus"] == "InService"
    assert {d.stage for d in endpoints.status()} == {"staging", "prod"}


def test_update_keeps_variant_and_rollback_updates_back(sm_settings, faked_update):
    endpoints = eps(sm_settings)
    first = endpoints.deploy("prod", candidate(1)).after
    faked_update(endpoints, "prod")
    endpoints.variant_name = "Green"  # a new config must still use the serving variant's name
    result = endpoints.deploy("prod", candidate(2))
    assert (result.before.version, result.after.version) == (1, 2)
    name, config, deployment = faked_update.calls[-1]
    assert (name, config) == ("medtx-prod", result.after.config_name)
    policy = deployment["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY", "WaitIntervalInSeconds": 120,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25}}
    assert deployment["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "medtx-prod-5xx"}]}
    sm = endpoints.api_for("prod").sm
    cfg = sm.describe_endpoint_config(EndpointConfigName=result.after.config_name)
    assert cfg["ProductionVariants"][0]["VariantName"] == "Blue"

    back = endpoints.rollback("prod")
    assert faked_update.calls[-1][1] == first.config_name
    assert (back.before.version, back.after.version) == (2, 1)
    assert endpoints.current("prod").config_name == first.config_name


def test_failed_smoke_updates_back_to_previous(sm_settings, faked_update):
    class Down:
        def request(self, method, path, body=None, content_type=None):
            return 0, b""

    healthy = {"on": True}

    def transport(stage, api, name):
        return RuntimeTransport(api, name) if healthy["on"] else Down()

    endpoints = eps(sm_settings, transport_for=transport)
    first = endpoints.deploy("prod", candidate(1)).after
    faked_update(endpoints, "prod")
    healthy["on"] = False
    with pytest.raises(DeployError, match="failed its smoke tests.*health.*rolled back"):
        endpoints.deploy("prod", candidate(2))
    assert endpoints.current("prod").config_name == first.config_name
    assert endpoints.current("prod").version == 1


def test_prepared_config_is_promoted_and_stop_deletes(sm_settings, faked_update):
    endpoints = eps(sm_settings)
    endpoints.deploy("prod", candidate(1))
    faked_update(endpoints, "prod")
    ready = endpoints.deploy("prod", candidate(2), promote=False).after
    assert ready.state == "ready" and endpoints.current("prod").version == 1
    assert endpoints.promote("prod").after.config_name == ready.config_name
    with pytest.raises(DeployError, match="no prepared endpoint config"):
        endpoints.promote("prod")
    assert endpoints.stop("prod").state == "stopped"
    assert endpoints.current("prod") is None
    assert endpoints.stop("prod") is None


def test_refusals_name_the_problem(sm_settings):
    endpoints = eps(sm_settings)
    with pytest.raises(DeployError, match="model.tar.gz in S3"):
        endpoints.deploy("prod", Candidate(1, package_dir=None))
    with pytest.raises(DeployError, match="no sagemaker target"):
        endpoints.current("qa")
    with pytest.raises(DeployError, match="replaced no earlier config"):
        endpoints.deploy("staging", candidate(1))
        endpoints.rollback("staging")
    endpoints.deploy("prod", candidate(1))
    endpoints.stages["prod"] = dataclasses.replace(endpoints.stages["prod"], serverless_memory_mb=2048)
    with pytest.raises(DeployError, match="cannot become serverless"):
        endpoints.deploy("prod", candidate(2))
    no_image = eps(sm_settings.with_overrides(deploy={"image": None}))
    with pytest.raises(DeployError, match="deploy.image"):
        no_image.deploy("prod", candidate(1))


def test_moto_update_endpoint_gap_is_a_deploy_error(sm_settings):
    endpoints = eps(sm_settings)
    endpoints.deploy("prod", candidate(1))
    with pytest.raises(DeployError, match="update_endpoint failed"):
        endpoints.deploy("prod", candidate(2))


def test_deployment_config_shapes(sm_settings):
    from medtx.config import DeployStageSettings

    linear = deployment_config(DeployStageSettings(traffic="LINEAR", canary_percent=20, wait_s=60))
    policy = linear["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["LinearStepSize"] == {"Type": "CAPACITY_PERCENT", "Value": 20}
    assert policy["MaximumExecutionTimeoutInSeconds"] >= 5 * 60 + policy["TerminationWaitInSeconds"]
    assert "AutoRollbackConfiguration" not in linear
    once = deployment_config(DeployStageSettings())
    assert once["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
