"""Deploy models to endpoints: the target contract, local and SageMaker targets, smoke tests.

``medtx.deploy.factory.open_endpoints(settings, stage)`` gives the target of a stage; each implements
:class:`medtx.deploy.base.Endpoints` (current, deploy, promote, rollback, stop, status).
Importing this package loads neither torch nor boto3.
"""
from medtx.deploy.base import (
    Candidate,
    DeployError,
    Deployment,
    DeployResult,
    Endpoints,
    stage_settings,
)
from medtx.deploy.smoke import SmokeCheck, SmokeReport, SmokeSpec, run_smoke, smoke_url

__all__ = [
    "Candidate", "DeployError", "DeployResult", "Deployment", "Endpoints",
    "stage_settings", "SmokeCheck", "SmokeReport", "SmokeSpec", "run_smoke", "smoke_url",
]
