"""CSV files uploaded from the web console (issue 17), written to the stack's data bucket.

The seed's console flow imports "from an S3 location": the user uploads the CSV to a bucket
first. The web console lets a user without S3 tools do that step from the page: the file goes
to the stack's data bucket (`config.data_bucket`, where users' uploads go; never the internal
bucket), under one prefix per dataset group and dataset type,

    s3://<data bucket>/console-uploads/<dataset group name>/<DATASET TYPE>/<UTC time>-<id>-<fileName>

and the page then creates an ordinary import job with that `dataLocation`. Each upload gets
its own key, so a re-upload of the same name cannot change what a running import reads.

Not an operation of the service models: a project route, `POST /console/upload?datasetArn=..
&fileName=..` whose body is the file's bytes (protocol/http.py `PROJECT_ROUTES`), signed and
authorised like every call, as the action `personalize:UploadDatasetFile` on the dataset's
ARN (so `personalize:*` allows it and the read-only policy does not).

Checked before anything is written, each refusal an InvalidInputException naming the rule:
the file name; the size (`MAX_BYTES`: the request reaches the Lambda function base64-encoded,
which must fit its 6 MB synchronous payload; larger files are uploaded to S3 directly); UTF-8
text (seed, "Formatting your Input Data"); a header that maps to the dataset's schema and at
least one data row, by the importer's own rules (`datasets.importer.map_header`). The rows'
values are checked by the import job, which reports them in its `failureReason`.
"""
import re
import time

from chalicelib.datasets import records
from chalicelib.datasets.csv_stream import BadCsv, NotUtf8, RowBatches, first_bad_line
from chalicelib.datasets.importer import Problems, map_header
from chalicelib.datasets.schema import SchemaError
from chalicelib.domain import arns
from chalicelib.protocol.errors import InvalidInputException
from chalicelib.service.registry import operation
from chalicelib.storage import objects
from chalicelib.storage.resources import store

MAX_BYTES = 4 * 1024 * 1024
PREFIX = "console-uploads"
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.csv", re.IGNORECASE)


def _checked_name(name):
    if not isinstance(name, str) or not FILE_NAME.fullmatch(name):  # not `$`: it admits a final "\n"
        raise InvalidInputException(
            f"fileName {str(name)[:120]!r}: must end in .csv and have 5 to 104 characters "
            "a-z, A-Z, 0-9, '.', '_' and '-', starting with a letter or digit")
    return name


def _checked_text(name, body):
    if not body:
        raise InvalidInputException(f"{name} is empty: the first row must hold the column headers")
    if len(body) > MAX_BYTES:
        raise InvalidInputException(
            f"{name} has {len(body)} bytes, above the console upload limit of {MAX_BYTES} bytes "
            "(4 MiB); upload a larger file to S3 and import it from its S3 location")
    line = first_bad_line([body])
    if line is not None:
        raise InvalidInputException(f"{name} line {line}: the file is not UTF-8 text "
                                    "(CSV files are imported as UTF-8)")


def _checked_header(name, body, schema):
    """The schema fields the header's columns map to; InvalidInputException otherwise."""
    stream = RowBatches([body])
    try:
        header = stream.header()
        if header is None:
            raise InvalidInputException(f"{name} has no rows: the first row must hold the "
                                        "column headers")
        problems = Problems()
        columns = map_header(header, schema, name, problems, line=stream.line_num)
        if problems.count:
            raise InvalidInputException(problems.reason())
        if not any(len(batch.without_blank_rows()) for batch in stream.batches(256)):
            raise InvalidInputException(f"{name} holds column headers but no data rows")
    except (NotUtf8, BadCsv) as e:
        raise InvalidInputException(f"{name} {e}") from None
    return [columns[k] for k in sorted(columns)]


@operation("UploadDatasetFile", service="console")
def upload_dataset_file(params):
    """params: `datasetArn`, `fileName` (the query's members), `body` (the file's bytes)."""
    dataset_arn = params.get("datasetArn")
    if not isinstance(dataset_arn, str) or arns.type_of(dataset_arn) != arns.DATASET:
        raise InvalidInputException(f"datasetArn {str(dataset_arn)[:200]!r}: must be a dataset ARN")
    name = _checked_name(params.get("fileName"))
    dataset = store().require(dataset_arn, arns.DATASET, "dataset")
    body = params.get("body") or b""
    _checked_text(name, body)
    try:
        schema = records.dataset_schema_of(dataset)
    except SchemaError as e:
        raise InvalidInputException(str(e)) from None
    columns = _checked_header(name, body, schema)
    group, dataset_type = arns.parse(dataset_arn).parts[:2]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    key = f"{PREFIX}/{group}/{dataset_type}/{stamp}-{arns.new_id()}-{name}"
    location = objects.put_bytes(objects.data_uri(key), body, content_type="text/csv")
    return {"dataLocation": location, "bytes": len(body), "columns": columns}
