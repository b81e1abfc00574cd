"""Ingest turns every kind of unreadable input into an IngestError that names the problem."""
import pytest

from medtx.data.ingest import DEMO_SOURCE, ingest, parse_csv_bytes
from medtx.errors import IngestError

HEADER = ",description,medical_specialty,sample_name,transcription,keywords\n"
ROW = '0,d, Urology,s,"HISTORY: kidney stone, flank pain and hematuria for two days.","urology, stone"\n'


def write(tmp_path, data: bytes, name="notes.csv"):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_reads_local_csv_with_row_ids(tmp_path, settings):
    path = write(tmp_path, (HEADER + ROW + ROW.replace("0,", "1,", 1)).encode())
    raw, info = ingest(path, settings)
    assert list(raw["row_id"]) == [0, 1]
    assert raw.loc[0, "medical_specialty"] == " Urology"
    assert info.n_rows == 2 and not info.is_demo and len(info.sha256) == 64


def test_missing_path_is_named(tmp_path, settings):
    missing = tmp_path / "nope.csv"
    with pytest.raises(IngestError, match=r"data file not found: .*nope\.csv"):
        ingest(str(missing), settings)


def test_directory_is_refused(tmp_path, settings):
    with pytest.raises(IngestError, match="not a file"):
        ingest(str(tmp_path), settings)


def test_empty_file(tmp_path, settings):
    with pytest.raises(IngestError, match="empty"):
        ingest(write(tmp_path, b""), settings)


def test_header_only_file_reads_zero_rows(tmp_path, settings):
    # zero rows is a table-level validation failure, checked by the suites (see test_checks)
    raw, info = ingest(write(tmp_path, HEADER.encode()), settings)
    assert len(raw) == 0 and info.n_rows == 0
    assert "transcription" in raw.columns


def test_binary_bytes_are_not_csv(tmp_path, settings):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    with pytest.raises(IngestError, match="not CSV text"):
        ingest(write(tmp_path, png, "x.csv"), settings)


def test_non_utf8_file(tmp_path, settings):
    data = (HEADER + ROW.replace("kidney", "k\xe9dney")).encode("latin-1")
    with pytest.raises(IngestError, match=r"not UTF-8 \(invalid byte at offset \d+\)"):
        ingest(write(tmp_path, data), settings)


def test_single_column_text_is_not_mtsamples(tmp_path, settings):
    with pytest.raises(IngestError, match="found 1 column"):
        ingest(write(tmp_path, b"just some words\nand more words\n"), settings)


def test_ragged_csv_is_reported(tmp_path, settings):
    data = HEADER.encode() + b'0,a,b,c,d,e\n1,a,b,c,d,e,f,g,h\n'
    with pytest.raises(IngestError, match="not a valid CSV"):
        ingest(write(tmp_path, data), settings)


def test_error_messages_carry_no_note_text(tmp_path, settings):
    data = (HEADER + ROW.replace("kidney", "k\xe9dney")).encode("latin-1")
    with pytest.raises(IngestError) as err:
        ingest(write(tmp_path, data), settings)
    assert "flank" not in str(err.value)


def test_five_megabyte_note_is_read_intact(tmp_path, settings):
    big = "word " * (1_000_000)  # 5 MB in one field; validation quarantines it as too long
    data = (HEADER + f'0,d, Urology,s,"{big}",k\n').encode()
    raw, _ = ingest(write(tmp_path, data), settings)
    assert len(raw.loc[0, "transcription"]) == len(big)


def test_no_source_uses_deterministic_demo(settings):
    raw1, info1 = ingest(None, settings)
    raw2, info2 = ingest(None, settings)
    assert info1.is_demo and info1.source == DEMO_SOURCE
    assert info1.sha256 == info2.sha256
    assert len(raw1) >= 600
    assert raw1["medical_specialty"].str.strip().nunique() >= 8


def test_parse_bom_is_stripped():
    raw = parse_csv_bytes(b"\xef\xbb\xbf" + (HEADER + ROW).encode(), "x")
    assert raw.columns[1] == "Unnamed: 0"
