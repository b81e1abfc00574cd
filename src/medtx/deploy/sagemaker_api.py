"""The thin boto3 adapter for SageMaker endpoints: one method per call medtx makes.

Every botocore failure becomes a DeployError naming the call. ``update_endpoint`` is one
method on purpose: moto lacks it, so tests fake exactly that method and run the rest on moto.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from medtx.aws.calls import aws_call, describe_or_none
from medtx.deploy.base import DeployError


def _aws_call(what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """A SageMaker call; botocore failures become DeployError naming it."""
    return aws_call(f"SageMaker {what}", DeployError, fn, **kwargs)


def _describe(what: str, fn: Callable[..., Any], **kwargs: Any) -> Optional[dict]:
    """A SageMaker ``describe_*`` call; None when the resource does not exist."""
    return describe_or_none(f"SageMaker {what}", DeployError, fn, **kwargs)


class SageMakerApi:
    """One method per SageMaker call medtx makes; errors become DeployError naming the call."""

    def __init__(self, client: Any, runtime: Any = None, waiter_delay_s: int = 15,
                 waiter_attempts: int = 120):
        self.sm, self.runtime = client, runtime
        self.waiter = {"Delay": waiter_delay_s, "MaxAttempts": waiter_attempts}

    def create_model(self, name: str, image: str, model_data_url: str, role: Optional[str],
                     env: dict[str, str]) -> None:
        kwargs: dict[str, Any] = {"ModelName": name, "PrimaryContainer": {
            "Image": image, "ModelDataUrl": model_data_url, "Environment": env}}
        if role:
            kwargs["ExecutionRoleArn"] = role
        _aws_call("create_model", self.sm.create_model, **kwargs)

    def create_endpoint_config(self, name: str, variant: dict, capture: Optional[dict],
                               tags: dict[str, str]) -> None:
        kwargs: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": [variant],
                                  "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        if capture:
            kwargs["DataCaptureConfig"] = capture
        _aws_call("create_endpoint_config", self.sm.create_endpoint_config, **kwargs)

    def describe_endpoint(self, name: str) -> Optional[dict]:
        return _describe("describe_endpoint", self.sm.describe_endpoint, EndpointName=name)

    def describe_endpoint_config(self, name: str) -> dict:
        return _aws_call("describe_endpoint_config", self.sm.describe_endpoint_config,
                         EndpointConfigName=name)

    def tags(self, arn: str) -> dict[str, str]:
        out = _aws_call("list_tags", self.sm.list_tags, ResourceArn=arn)
        return {t["Key"]: t["Value"] for t in out.get("Tags", [])}

    def newest_config(self, prefix: str) -> Optional[str]:
        """The most recently created endpoint config whose name starts with ``prefix``."""
        out = _aws_call("list_endpoint_configs", self.sm.list_endpoint_configs,
                        NameContains=prefix, SortBy="CreationTime", SortOrder="Descending")
        names = [c["EndpointConfigName"] for c in out.get("EndpointConfigs", [])
                 if c["EndpointConfigName"].startswith(prefix)]
        return names[0] if names else None

    def create_endpoint(self, name: str, config: str) -> None:
        _aws_call("create_endpoint", self.sm.create_endpoint, EndpointName=name,
                  EndpointConfigName=config)

    def update_endpoint(self, name: str, config: str, deployment: dict) -> None:
        """The one call moto lacks: tests fake this method."""
        _aws_call("update_endpoint", self.sm.update_endpoint, EndpointName=name,
                  EndpointConfigName=config, DeploymentConfig=deployment)

    def delete_endpoint(self, name: str) -> None:
        _aws_call("delete_endpoint", self.sm.delete_endpoint, EndpointName=name)

    def wait(self, waiter: str, name: str) -> None:
        """``endpoint_in_service`` or ``endpoint_deleted`` (boto3 waiters, no sleep loops)."""
        _aws_call(f"waiter {waiter}", self.sm.get_waiter(waiter).wait, EndpointName=name,
                  WaiterConfig=self.waiter)

    def invoke(self, name: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        from botocore.exceptions import ClientError

        try:
            out = self.runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type)
            return 200, out["Body"].read()
        except ClientError as exc:
            return int(exc.response.get("OriginalStatusCode")
                       or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0), b""


class RuntimeTransport:
    """Smoke-test transport over ``invoke_endpoint``: /ping = the endpoint is InService."""

    def __init__(self, api: SageMakerApi, endpoint: str):
        self.api, self.endpoint = api, endpoint

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                content_type: Optional[str] = None) -> tuple[int, bytes]:
        if path == "/ping":
            desc = self.api.describe_endpoint(self.endpoint)
            return (200 if desc and desc["EndpointStatus"] == "InService" else 503), b""
        return self.api.invoke(self.endpoint, body or b"", content_type or "application/json")
