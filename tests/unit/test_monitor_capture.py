import json
from datetime import datetime, timezone

import pytest

from medtx.errors import IngestError
from medtx.monitor.capture_reader import CaptureReader
from medtx.monitor.labels import import_labels, join_labels
from medtx.serving.capture import capture_record, hour_prefix

T0 = datetime(2026, 12, 1, 10, 15, tzinfo=timezone.utc)
SINCE = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
UNTIL = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)


def rec(i, notes=None, inference_id=None, when=T0, event_id=None):
    notes = notes or [f"note {i} chest pain"]
    out = {"predictions": [{"label": "Cardiology", "probabilities": {"Cardiology": 0.8, "Neurology": 0.2}}
                           for _ in notes]}
    return capture_record(json.dumps({"inputs": notes}), "application/json", "JSON", json.dumps(out),
                          inference_id=inference_id, when=when, event_id=event_id or f"ev-{i}")


def write(root, name, records, raw_tail="", when=T0, mode="w"):
    folder = root / hour_prefix("cap", "ep", "AllTraffic", when)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, mode) as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in records) + raw_tail)
    return folder / name


def reader(tmp_path):
    return CaptureReader(str(tmp_path / "cap"), tmp_path / "state", "ep", "AllTraffic")


def test_second_run_reads_only_new_lines_and_new_files(tmp_path):
    f = write(tmp_path, "a.jsonl", [rec(i) for i in range(3)])
    w1 = reader(tmp_path).read(SINCE, UNTIL)
    assert len(w1) == 3 and w1.counts.files == 1 and w1.counts.read == 3
    row = w1.rows.iloc[0]
    assert row["event_id"] == "ev-0" and row["label"] == "Cardiology"
    assert row["confidence"] == pytest.approx(0.8) and row["probabilities"]["Neurology"] == 0.2
    assert row["time"] == datetime(2026, 12, 1, 10, 15, tzinfo=timezone.utc)

    assert len(reader(tmp_path).read(SINCE, UNTIL)) == 0  # nothing new
    write(tmp_path, "a.jsonl", [rec(3), rec(4)], mode="a")  # the file grew
    write(tmp_path, "b.jsonl", [rec(5)])
    w3 = reader(tmp_path).read(SINCE, UNTIL)
    assert sorted(w3.rows["event_id"]) == ["ev-3", "ev-4", "ev-5"]
    assert w3.counts.files == 2 and w3.counts.duplicates == 0
    assert f.exists()


def test_commit_false_leaves_state(tmp_path):
    write(tmp_path, "a.jsonl", [rec(0)])
    assert len(reader(tmp_path).read(commit=False)) == 1
    assert len(reader(tmp_path).read()) == 1


def test_corrupt_and_truncated_lines_counted_and_skipped(tmp_path):
    good = [rec(0), rec(1)]
    missing = rec(2)
    del missing["eventMetadata"]["eventId"]
    folder = tmp_path / hour_prefix("cap", "ep", "AllTraffic", T0)
    folder.mkdir(parents=True)
    partial = json.dumps(rec(3))
    lines = [json.dumps(good[0]), "{not json", json.dumps(missing), json.dumps(good[1])]
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n" + partial[:40])
    w = reader(tmp_path).read(SINCE, UNTIL)
    assert len(w) == 2 and w.counts.corrupt == 2 and w.counts.truncated == 1
    # the writer finishes the line: the next run reads it, nothing else again
    with open(folder / "a.jsonl", "a") as fh:
        fh.write(partial[40:] + "\n")
    w2 = reader(tmp_path).read(SINCE, UNTIL)
    assert list(w2.rows["event_id"]) == ["ev-3"] and w2.counts.corrupt == 0 and w2.counts.truncated == 0


def test_duplicated_event_ids_counted_across_files_and_runs(tmp_path):
    write(tmp_path, "a.jsonl", [rec(0), rec(1), rec(1)])
    w1 = reader(tmp_path).read(SINCE, UNTIL)
    assert len(w1) == 2 and w1.counts.duplicates == 1
    write(tmp_path, "b.jsonl", [rec(0), rec(2)])  # ev-0 again, in a later file and run
    w2 = reader(tmp_path).read(SINCE, UNTIL)
    assert list(w2.rows["event_id"]) == ["ev-2"] and w2.counts.duplicates == 1


def test_window_filters_hours_and_records(tmp_path):
    late = datetime(2026, 12, 1, 13, 5, tzinfo=timezone.utc)
    write(tmp_path, "a.jsonl", [rec(0)])
    write(tmp_path, "b.jsonl", [rec(1, when=late)], when=late)
    w = reader(tmp_path).read(SINCE, UNTIL)
    assert list(w.rows["event_id"]) == ["ev-0"]


def test_empty_window_is_not_enough(tmp_path):
    w = reader(tmp_path).read(SINCE, UNTIL)
    assert len(w) == 0 and not w.enough(200)
    msg = w.message(200)
    assert "not enough traffic" in msg and "0 note" in msg and "200" in msg
    write(tmp_path, "a.jsonl", [rec(0, notes=["a", "b", "c"])])
    w2 = reader(tmp_path).read(SINCE, UNTIL)
    assert len(w2) == 3 and w2.enough(3) and w2.message(3) == ""
    assert list(w2.rows["position"]) == [0, 1, 2]


# ---- labels --------------------------------------------------------------------------------

def test_csv_and_jsonl_and_groundtruth(tmp_path):
    (tmp_path / "l.csv").write_text("inference_id,label\ninf-1,Cardiology\n,Neurology\ninf-2,\n")
    a = import_labels(tmp_path / "l.csv")
    assert a.format == "csv" and list(a.labels["id"]) == ["inf-1"] and a.counts.skipped == 2
    assert a.labels["key"].iloc[0] == "inference_id" and a.labels["source"].iloc[0] == "l.csv:csv"

    (tmp_path / "l.jsonl").write_text('{"event_id": "ev-1", "label": "Urology"}\nnot json\n')
    b = import_labels(tmp_path / "l.jsonl")
    assert list(b.labels["label"]) == ["Urology"] and b.counts.rows == 2 and b.counts.skipped == 1

    gt = [{"groundTruthData": {"data": "Neurology", "encoding": "CSV"},
           "eventMetadata": {"eventId": "ev-2"}, "eventVersion": "0"},
          {"groundTruthData": {"data": json.dumps({"label": "Urology"}), "encoding": "JSON"},
           "eventMetadata": {"eventId": "ev-3"}, "eventVersion": "0"}]
    (tmp_path / "gt.jsonl").write_text("\n".join(json.dumps(g) for g in gt))
    c = import_labels(tmp_path / "gt.jsonl")
    assert c.format == "groundtruth"
    assert dict(zip(c.labels["id"], c.labels["label"])) == {"ev-2": "Neurology", "ev-3": "Urology"}
    assert set(c.labels["key"]) == {"event_id"}


def _ann(label, cancelled=False):
    return {"id": 1, "was_cancelled": cancelled, "result": [
        {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]}


def test_label_studio_export(tmp_path):
    tasks = [
        {"id": 1, "data": {"text": "secret note", "inference_id": "inf-1"},
         "annotations": [_ann("Cardiology"), _ann("Neurology", cancelled=True)]},
        {"id": 2, "data": {"text": "x", "event_id": "ev-2"},
         "annotations": [_ann("Urology"), _ann("Urology"), _ann("Neurology")]},
        {"id": 3, "data": {"text": "y", "event_id": "ev-3"},
         "annotations": [_ann("Urology"), _ann("Neurology")]},
        {"id": 4, "data": {"text": "z", "event_id": "ev-4"}, "annotations": [_ann("A", True)]},
    ]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    got = import_labels(tmp_path / "export.json")
    assert got.format == "label-studio"
    assert dict(zip(got.labels["id"], got.labels["label"])) == {"inf-1": "Cardiology", "ev-2": "Urology"}
    assert got.counts.cancelled == 2 and got.counts.conflicts == 1 and got.counts.skipped == 1
    assert got.counts.rows == 4
    assert "secret" not in repr(got)


def test_unreadable_label_files_raise_ingest_error(tmp_path):
    with pytest.raises(IngestError, match="does not exist"):
        import_labels(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("note,text\nsecret note,x\n")
    with pytest.raises(IngestError, match="bad.csv") as err:
        import_labels(tmp_path / "bad.csv")
    assert "secret" not in str(err.value)
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(IngestError, match="not valid JSON"):
        import_labels(tmp_path / "bad.json")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(IngestError, match="UTF-8"):
        import_labels(tmp_path / "bin.jsonl")


def test_join_by_inference_id_then_event_id_and_unknown_counted(tmp_path):
    write(tmp_path, "a.jsonl", [rec(0, inference_id="inf-0"), rec(1), rec(2, notes=["p", "q"])])
    rows = reader(tmp_path).read(SINCE, UNTIL).rows
    (tmp_path / "l.csv").write_text(
        "id,label\ninf-0,Neurology\nev-1,Urology\nev-2#1,Cardiology\nev-2,Urology\nnobody,Urology\n")
    joined, unknown = join_labels(rows, import_labels(tmp_path / "l.csv"))
    # ev-2 names a two-note request without a position: it matches no single row
    assert unknown == 2
    got = {(r.event_id, r.position): r.true_label for r in joined.itertuples()}
    assert got == {("ev-0", 0): "Neurology", ("ev-1", 0): "Urology", ("ev-2", 1): "Cardiology"}
    assert set(joined["label"]) == {"Cardiology"}  # the prediction is kept beside the truth
    assert set(joined["label_source"]) == {"l.csv:csv"}


class _FakeS3:
    """list_objects_v2 / get_object over an in-memory bucket (Range honoured)."""

    def __init__(self):
        self.objects, self.ranges = {}, []

    def put(self, key, records):
        self.objects[key] = "".join(json.dumps(r) + "\n" for r in records).encode()

    def get_paginator(self, name):
        fake = self

        class P:
            def paginate(self, Bucket, Prefix, StartAfter=""):
                yield {"Contents": [{"Key": k, "Size": len(v), "ETag": f'"{hash(v)}"'}
                                    for k, v in sorted(fake.objects.items())
                                    if k.startswith(Prefix) and k > StartAfter]}
        return P()

    def get_object(self, Bucket, Key, Range=None):
        import io
        self.ranges.append(Range)
        body = self.objects[Key][int(Range[6:-1]):] if Range else self.objects[Key]
        return {"Body": io.BytesIO(body)}


def test_s3_prefix_read_incrementally(tmp_path, monkeypatch):
    fake = _FakeS3()
    monkeypatch.setattr("medtx.aws.session.client", lambda aws, service, **kw: fake)
    fake.put("cap/ep/AllTraffic/2026/12/01/09/old.jsonl", [rec(9)])  # before the window
    fake.put("cap/ep/AllTraffic/2026/12/01/10/a.jsonl", [rec(0), rec(1)])
    r = CaptureReader("s3://bucket/cap", tmp_path / "state", "ep", "AllTraffic")
    assert sorted(r.read(SINCE, UNTIL).rows["event_id"]) == ["ev-0", "ev-1"]
    fake.put("cap/ep/AllTraffic/2026/12/01/11/b.jsonl", [rec(2)])
    w = r.read(SINCE, UNTIL)
    assert list(w.rows["event_id"]) == ["ev-2"] and w.counts.files == 1
    assert len(fake.ranges) == 2  # the 09 hour is never fetched, a.jsonl not twice
