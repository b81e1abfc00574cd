"""S3 ingest goes through the same code path as local files, against a moto server on loopback."""
import boto3
import pytest

from medtx.data.ingest import ingest
from medtx.errors import IngestError

CSV = (
    ",description,medical_specialty,sample_name,transcription,keywords\n"
    '0,d, Urology,s,"HISTORY: flank pain with hematuria, CT shows a stone.",k\n'
)


@pytest.fixture
def s3_settings(settings, moto_endpoint):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="notes")
    s3.put_object(Bucket="notes", Key="in/mtsamples.csv", Body=CSV.encode())
    return settings.with_overrides(aws={"endpoint_url": moto_endpoint})


def test_reads_s3_object_like_a_local_file(s3_settings, tmp_path):
    raw, info = ingest("s3://notes/in/mtsamples.csv", s3_settings)
    local = tmp_path / "same.csv"
    local.write_text(CSV)
    raw_local, info_local = ingest(str(local), s3_settings)
    assert info.sha256 == info_local.sha256
    assert raw.equals(raw_local)
    assert info.source == "s3://notes/in/mtsamples.csv"


def test_missing_s3_key_is_named(s3_settings):
    with pytest.raises(IngestError, match=r"S3 object not found: s3://notes/in/missing\.csv"):
        ingest("s3://notes/in/missing.csv", s3_settings)


def test_missing_bucket_is_named(s3_settings):
    with pytest.raises(IngestError, match="S3 bucket not found: nobucket"):
        ingest("s3://nobucket/x.csv", s3_settings)


def test_uri_without_key(s3_settings):
    with pytest.raises(IngestError, match="no object key"):
        ingest("s3://notes/", s3_settings)
