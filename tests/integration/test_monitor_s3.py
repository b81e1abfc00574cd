"""Monitoring state and capture on S3 (a moto server on 127.0.0.1): the state survives between
runs in fresh folders, a concurrent change is never overwritten, and labels imported against
S3 capture reach the next training set."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pandas as pd
import pytest

from medtx.config import load_config_dict
from medtx.errors import MonitorError
from medtx.monitor.state import local_state
from medtx.monitor.store import MonitorStore

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
NOTE = "HISTORY: knee pain after a fall. EXAM: medial joint line tenderness, McMurray positive."


def _window(store, until):
    return store.add_window(since=None, until=until, status="judged", model_version=1, n_notes=0,
                            verdict="no drift", drifted=[], signals={}, quality={}, counts={})


def test_state_round_trips_and_refuses_a_concurrent_overwrite(moto_endpoint, s3_bucket, settings):
    aws = settings.with_overrides(aws={"endpoint_url": moto_endpoint}).aws
    uri = f"s3://{s3_bucket}/monitor/medtx-prod"
    with local_state(uri, aws, write=True) as root:
        _window(MonitorStore(root), "2026-12-01T00:00:00Z")
    with local_state(uri, aws) as root:  # a fresh folder, as in the next Argo pod
        assert [w.until for w in MonitorStore(root).windows()] == ["2026-12-01T00:00:00Z"]
    with pytest.raises(MonitorError, match="changed by another run"), local_state(uri, aws, write=True) as mine:
        with local_state(uri, aws, write=True) as theirs:
            _window(MonitorStore(theirs), "2026-12-02T00:00:00Z")
        _window(MonitorStore(mine), "2026-12-03T00:00:00Z")
    with local_state(uri, aws) as root:
        assert [w.until for w in MonitorStore(root).windows()] == [
            "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"]  # theirs kept, mine not written
    head = boto3.client("s3", endpoint_url=moto_endpoint).head_object(
        Bucket=s3_bucket, Key="monitor/medtx-prod/monitor.sqlite")
    assert head.get("ServerSideEncryption") == "AES256"


def test_labels_against_s3_capture_join_training_from_s3_state(moto_endpoint, s3_bucket, tmp_path,
                                                               capsys):
    from medtx.cli.main import main
    from medtx.config import load_settings
    from medtx.monitor.capture_reader import CaptureReader
    from medtx.monitor.descriptors import note_hash
    from medtx.serving.capture import capture_record, hour_prefix
    from medtx.stages import train
    from medtx.stages.monitor import target_of

    raw = load_config_dict(ROOT / "configs" / "local.json")
    raw["aws"] = {"region": "us-east-1", "endpoint_url": moto_endpoint}
    raw["serving"] = {"capture_to": f"s3://{s3_bucket}/capture"}
    raw["monitor"] = {"state_dir": f"s3://{s3_bucket}/monitor", "labels_to_training": True}
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(raw))
    settings = load_settings(cfg)
    target = target_of(settings)
    assert target.state_dir == f"s3://{s3_bucket}/monitor/medtx-prod"

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    out = json.dumps({"predictions": [{"label": "Orthopedic", "model_version": 1,
                                       "probabilities": {"Orthopedic": 0.9, "Neurology": 0.1}}]})
    lines = "".join(json.dumps(capture_record(json.dumps({"inputs": f"{NOTE} Visit {i}."}),
                                              "application/json", "JSON", out, inference_id=f"case-{i}",
                                              when=WHEN, event_id=f"ev-{i}")) + "\n" for i in range(3))
    key = hour_prefix("capture", "medtx-prod", "AllTraffic", WHEN) + "/a.jsonl"
    s3.put_object(Bucket=s3_bucket, Key=key, Body=lines.encode())

    with local_state(target.state_dir, settings.aws, write=True) as root:  # a judged window
        rows = CaptureReader(target.capture_prefix, root / "capture", target.endpoint, target.variant,
                             aws=settings.aws).read(commit=False).rows
        assert len(rows) == 3
        preds = rows.drop(columns=["text"]).assign(note_hash=[note_hash(t) for t in rows["text"]])
        MonitorStore(root).add_window(since=None, until="2026-12-02T00:00:00Z", status="judged",
                                      model_version=1, n_notes=3, verdict="no drift", drifted=[],
                                      signals={}, quality={}, counts={}, predictions=preds)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"inference_id": ["case-0", "case-2", "unknown-9"],
                  "label": ["Orthopedic", "Neurology", "Orthopedic"]}).to_csv(labels, index=False)
    assert main(["labels", "import", str(labels), "--config", str(cfg), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts["training_notes"] == 2 and counts["not_yet_matched"] == 1

    frame, info = train.ingest(settings)
    added = frame[frame["medtx_source"].notna()]
    assert sorted(added["medtx_source"]) == ["capture:medtx-prod:ev-0#0", "capture:medtx-prod:ev-2#0"]
    assert info.extra[0]["path"].startswith(f"s3://{s3_bucket}/monitor/medtx-prod/labelled/labels-")
    assert main(["monitor", "windows", "--config", str(cfg), "--json"]) == 0
    assert [w["n_notes"] for w in json.loads(capsys.readouterr().out)] == [3]
