"""The IAM policies under iam/ cover every AWS call medtx made in this test session, role by role,
and grant nothing broader than they must.

tests/conftest.py points ``MEDTX_AWS_AUDIT`` at a session file; every client medtx builds logs
(role, service, operation) there, in this process and in the flows and servers it starts. This
module is marked ``aws_audit`` and runs after every other test of the session.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IAM = ROOT / "iam"
# botocore operation -> the IAM action it needs, where the names differ
ACTION_OF = {("s3", "ListObjectsV2"): "s3:ListBucket", ("s3", "HeadObject"): "s3:GetObject",
             ("s3", "HeadBucket"): "s3:ListBucket", ("s3", "CreateMultipartUpload"): "s3:PutObject",
             ("s3", "UploadPart"): "s3:PutObject", ("s3", "CompleteMultipartUpload"): "s3:PutObject"}
TEST_SETUP = {"s3:CreateBucket"}  # buckets are made by test fixtures; medtx never creates one


def _policy_actions(name: str) -> set[str]:
    doc = json.loads((IAM / name).read_text())
    return {a for st in doc["Statement"] if st["Effect"] == "Allow" for a in st["Action"]}


def _roles() -> dict:
    return json.loads((IAM / "roles.json").read_text())


def _allowed(role: str) -> set[str]:
    mapping = _roles()["roles"]
    files = next((files for pattern, files in mapping.items() if fnmatch.fnmatch(role, pattern)), None)
    assert files is not None, f"role {role!r} made AWS calls but iam/roles.json gives it no policy"
    return set().union(*(_policy_actions(f) for f in files))


pytestmark = pytest.mark.aws_audit


def test_every_aws_call_of_the_session_is_allowed_to_its_role():
    path = Path(os.environ.get("MEDTX_AWS_AUDIT", ""))
    calls = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    if not calls:
        pytest.skip("no AWS calls were recorded in this session: this test checks the calls the "
                    "rest of the suite makes (run it with tests/integration or the whole suite)")
    always = set(_roles()["always_allowed"])
    missing = set()
    for call in calls:
        action = ACTION_OF.get((call["service"], call["operation"]), f"{call['service']}:{call['operation']}")
        if action in always or action in TEST_SETUP:
            continue
        if action not in _allowed(call["role"]):
            missing.add(f"{call['role']}: {action}")
    assert not missing, f"calls no policy allows: {sorted(missing)}"


def test_medtx_itself_never_creates_buckets():
    hits = [str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*.py")
            if re.search(r"\bcreate_bucket\(", p.read_text())]
    assert hits == []


def test_policies_name_their_actions_and_resources():
    for path in sorted(IAM.glob("*-role.json")):
        for st in json.loads(path.read_text())["Statement"]:
            assert all("*" not in a for a in st["Action"]), (path.name, st["Sid"])
            if st["Resource"] == ["*"]:  # only calls AWS defines without a resource
                assert st["Action"] == ["ecr:GetAuthorizationToken"], (path.name, st["Sid"])
            assert all(r.startswith("arn:aws:") or r == "*" for r in st["Resource"]), path.name


def test_readers_cannot_write_and_deployers_cannot_register():
    reader, deployer = _allowed("medtx-registry-read"), _allowed("medtx-prod-deploy")
    assert not {a for a in reader if re.search(r":(Create|Update|Put|Delete)", a)}
    assert not {a for a in deployer if a.endswith(("CreateModelPackage", "UpdateModelPackage"))}
    assert "sagemaker:UpdateModelPackage" in _allowed("medtx-prod-pipeline")  # approval lives there
