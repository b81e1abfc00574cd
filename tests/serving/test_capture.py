"""Data capture: SageMaker's record format and folder layout, sampling, hourly files, S3."""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from medtx.serving.capture import CaptureWriter, capture_record, capture_rows, read_capture

HOUR_DIR = re.compile(r"ep/v1/\d{4}/\d{2}/\d{2}/\d{2}/[\w-]+\.jsonl$")


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.jsonl"))


def test_records_follow_sagemaker_format_and_layout(live, tmp_path, make_notes):
    server = live()
    notes = make_notes(2, seed=5)
    j = server.client.invoke({"inputs": notes, "top_k": 2},
                             headers={"X-Amzn-SageMaker-Inference-Id": "id-json"})
    csv_body = f'"{notes[0]}"\n"{notes[1]}"\n'
    c = server.client.invoke(csv_body, "text/csv", headers={"X-Amzn-SageMaker-Inference-Id": "id-csv"})
    plain = server.client.invoke({"inputs": notes[0]})
    server.client.invoke({"inputs": 3})  # refused requests are not captured
    server.stop()  # closing the server flushes the capture

    files = _files(tmp_path / "capture")
    assert files and all(HOUR_DIR.search(f.as_posix()) for f in files)
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)  # note text: owner only
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(records) == 3
    by_id = {r["eventMetadata"].get("inferenceId"): r for r in records}
    rec = by_id["id-json"]
    assert set(rec) == {"captureData", "eventMetadata", "eventVersion"} and rec["eventVersion"] == "0"
    assert rec["captureData"]["endpointInput"] == {
        "observedContentType": "application/json", "mode": "INPUT",
        "data": json.dumps({"inputs": notes, "top_k": 2}), "encoding": "JSON"}
    assert rec["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json", "mode": "OUTPUT",
        "data": j.body.decode(), "encoding": "JSON"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["eventMetadata"]["inferenceTime"])
    uuid.UUID(rec["eventMetadata"]["eventId"])
    assert by_id["id-csv"]["captureData"]["endpointInput"]["encoding"] == "CSV"
    assert by_id["id-csv"]["captureData"]["endpointInput"]["data"] == csv_body
    assert by_id["id-csv"]["captureData"]["endpointOutput"]["data"] == c.body.decode()
    assert None in by_id and "inferenceId" not in by_id[None]["eventMetadata"]
    assert by_id[None]["captureData"]["endpointOutput"]["data"] == plain.body.decode()

    back = list(read_capture(str(tmp_path / "capture"), "ep", "v1"))
    assert sorted(map(json.dumps, back)) == sorted(map(json.dumps, records))
    rows = capture_rows(by_id["id-csv"])
    assert [r["note"] for r in rows] == notes and rows[0]["inference_id"] == "id-csv"
    assert rows[0]["prediction"] == json.loads(c.body)["predictions"][0]


def test_capture_percent_samples_requests(live, tmp_path):
    server = live(capture_percent=0.0)
    assert all(server.client.invoke({"inputs": "heart"}).status == 200 for _ in range(5))
    server.stop()
    assert _files(tmp_path / "capture") == []
    half = CaptureWriter(str(tmp_path / "half"), "ep", "v1", percent=50)
    share = sum(half.sampled() for _ in range(4000)) / 4000
    half.close()
    assert 0.45 < share < 0.55


def test_no_capture_when_capture_to_is_unset(live, tmp_path):
    server = live(capture_to=None)
    assert server.client.invoke({"inputs": "heart"}).status == 200
    server.stop()
    assert server.state.capture is None and _files(tmp_path) == []


def test_records_rotate_per_hour_and_read_back_by_time(tmp_path):
    t0 = datetime(2026, 12, 1, 17, 59, 58, tzinfo=timezone.utc)
    writer = CaptureWriter(str(tmp_path), "ep", "v1")
    for i in range(4):
        writer.put(capture_record('{"inputs": "x"}', "application/json", "JSON", "{}",
                                  inference_id=str(i), when=t0 + timedelta(seconds=i)))
    writer.close()
    hours = sorted(p.parent.relative_to(tmp_path).as_posix() for p in _files(tmp_path))
    assert hours == ["ep/v1/2026/12/01/17", "ep/v1/2026/12/01/18"]
    assert [r["eventMetadata"]["inferenceTime"] for r in read_capture(str(tmp_path))] == [
        "2026-12-01T17:59:58Z", "2026-12-01T17:59:59Z", "2026-12-01T18:00:00Z", "2026-12-01T18:00:01Z"]
    late = read_capture(str(tmp_path), since=datetime(2026, 12, 1, 18, tzinfo=timezone.utc))
    assert [r["eventMetadata"]["inferenceId"] for r in late] == ["2", "3"]
    assert writer.written == 4 and writer.failed == 0


def test_capture_to_an_s3_prefix(settings, moto_endpoint):
    import boto3

    bucket = f"capture-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    aws = settings.with_overrides(aws={"endpoint_url": moto_endpoint}).aws
    writer = CaptureWriter(f"s3://{bucket}/dc", "ep", "v1", aws=aws, flush_records=2)
    when = datetime(2026, 12, 1, 17, 25, 49, tzinfo=timezone.utc)
    for i in range(5):
        writer.put(capture_record('{"inputs": "x"}', "application/json", "JSON", "{}",
                                  inference_id=str(i), when=when))
    writer.close()
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
            .list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and all(k.startswith("dc/ep/v1/2026/12/01/17/") and k.endswith(".jsonl") for k in keys)
    got = list(read_capture(f"s3://{bucket}/dc", "ep", "v1", aws=aws))
    assert sorted(r["eventMetadata"]["inferenceId"] for r in got) == ["0", "1", "2", "3", "4"]
