"""CSV import: parsing, validation against the Avro schema, and the failureReason
a user reads (seed: "Formatting your Input Data", "Datasets and Schemas")."""
import itertools

import pytest

from chalicelib.datasets import importer, schema, versions
from tests.conftest import _aws_client, moto_world

ARN = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/INTERACTIONS"
ITEMS_ARN = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/ITEMS"


def interactions_schema(*extra):
    fields = [{"name": "USER_ID", "type": "string"},
              {"name": "ITEM_ID", "type": "string"},
              {"name": "TIMESTAMP", "type": "long"}]
    return schema.parse({"type": "record", "name": "Interactions", "fields": fields + list(extra)},
                        "Interactions")


OPTIONAL_EVENTS = ({"name": "EVENT_TYPE", "type": ["null", "string"]},
                   {"name": "EVENT_VALUE", "type": ["null", "float"]})


@pytest.fixture(scope="module")
def s3():
    """One moto world for the module (only S3 is used here): the data bucket exists."""
    with moto_world():
        yield _aws_client("s3")


_buckets = itertools.count()


@pytest.fixture
def src(s3):
    """A fresh source bucket per test; `put(key, body)` returns its s3:// location."""
    bucket = f"src-{next(_buckets)}"
    s3.create_bucket(Bucket=bucket)

    def put(key, body):
        s3.put_object(Bucket=bucket, Key=key, Body=body if isinstance(body, bytes) else body.encode())
        return f"s3://{bucket}/{key}"
    put.bucket = bucket
    return put


def run(location, sch=None, **kw):
    return importer.import_location(location, ARN, sch or interactions_schema(), **kw)


def failure(location, sch=None, **kw):
    with pytest.raises(importer.ImportFailed) as e:
        run(location, sch, **kw)
    return str(e.value)


# --- files that import -------------------------------------------------------

def test_bom_crlf_and_quoting_are_read(src):
    body = ('\ufeffUSER_ID,ITEM_ID,TIMESTAMP\r\n'
            '1,"a,b",100\r\n'
            '2,"say ""hi""",200\r\n'
            '3,"two\r\nlines",300\r\n')
    result = run(src("i.csv", body))
    data = versions.load(ARN, result.version_id)
    assert result.rows == 3
    assert data.strings("USER_ID").tolist() == ["1", "2", "3"]
    assert data.strings("ITEM_ID").tolist() == ["a,b", 'say "hi"', "two\r\nlines"]
    assert data.columns["TIMESTAMP"].tolist() == [100, 200, 300]


def test_lf_without_bom_header_in_any_order_case_and_spaces(src):
    # The seed's Getting Started writes the header as "USER_ID, ITEM_ID, TIMESTAMP".
    result = run(src("i.csv", "timestamp, Item_Id, USER_ID\n5,x,u1\n6,y,u2\n"))
    data = versions.load(ARN, result.version_id)
    assert data.strings("USER_ID").tolist() == ["u1", "u2"]
    assert data.strings("ITEM_ID").tolist() == ["x", "y"]
    assert data.columns["TIMESTAMP"].tolist() == [5, 6]


def test_optional_columns_may_be_left_out_or_empty(src):
    sch = interactions_schema(*OPTIONAL_EVENTS)
    result = run(src("a.csv", "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n1,a,1,click\n2,b,2,\n"), sch)
    data = versions.load(ARN, result.version_id)
    assert data.strings("EVENT_TYPE").tolist() == ["click", ""]
    assert data.columns["EVENT_TYPE"].tolist() == [0, -1]  # -1 = null
    assert data.nulls["EVENT_VALUE"].tolist() == [True, True]  # column left out: all null


def test_typed_columns_and_blank_lines(src):
    sch = schema.parse({"type": "record", "name": "Items", "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": ["null", "double"]},
        {"name": "STOCK", "type": "int"},
        {"name": "ON_SALE", "type": "boolean"},
        {"name": "GENRE", "type": "string", "categorical": True}]}, "Items")
    body = "ITEM_ID,PRICE,STOCK,ON_SALE,GENRE\ni1,9.5,3,true,Comedy|Drama\n\ni2,,0,FALSE,Horror\n\n"
    result = importer.import_location(src("items.csv", body), ITEMS_ARN, sch)
    data = versions.load(ITEMS_ARN, result.version_id)
    assert result.rows == 2
    assert data.numbers("PRICE")[0] == 9.5 and data.nulls["PRICE"].tolist() == [False, True]
    assert data.columns["STOCK"].tolist() == [3, 0]
    assert data.columns["ON_SALE"].tolist() == [1, 0]
    assert data.strings("GENRE").tolist() == ["Comedy|Drama", "Horror"]


def test_a_prefix_imports_every_csv_under_it(src):
    src("parts/a.csv", "USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n")
    src("parts/b.csv", "ITEM_ID,USER_ID,TIMESTAMP\nb,2,2\nc,3,3\n")
    src("parts/_SUCCESS", "")
    result = run(f"s3://{src.bucket}/parts/")
    assert result.rows == 3
    assert result.sources == [f"s3://{src.bucket}/parts/a.csv", f"s3://{src.bucket}/parts/b.csv"]
    assert versions.load(ARN, result.version_id).strings("ITEM_ID").tolist() == ["a", "b", "c"]


def test_many_batches(src):
    body = "USER_ID,ITEM_ID,TIMESTAMP\n" + "".join(f"u{i % 7},i{i % 11},{i}\n" for i in range(1000))
    result = run(src("big.csv", body), batch_rows=64)
    data = versions.load(ARN, result.version_id)
    assert result.rows == 1000
    assert data.columns["TIMESTAMP"].tolist() == list(range(1000))
    assert data.strings("ITEM_ID")[:12].tolist() == [f"i{i % 11}" for i in range(12)]


# --- header problems -----------------------------------------------------------

def test_missing_required_column(src):
    reason = failure(src("i.csv", "USER_ID,ITEM_ID\n1,a\n"))
    assert f"s3://{src.bucket}/i.csv line 1, column TIMESTAMP: required column is missing" in reason
    assert "(1 problem)" in reason


def test_column_not_in_schema(src):
    reason = failure(src("i.csv", "USER_ID,ITEM_ID,TIMESTAMP,RATING\n1,a,1,5\n"))
    assert "line 1, column RATING: is not a field of the schema" in reason


def test_column_twice(src):
    reason = failure(src("i.csv", "USER_ID,ITEM_ID,user_id,TIMESTAMP\n1,a,1,1\n"))
    assert "column user_id: appears twice in the header (columns 1 and 3)" in reason


def test_non_nullable_schema_field_missing_from_header(src):
    sch = interactions_schema({"name": "EVENT_TYPE", "type": "string"})
    reason = failure(src("i.csv", "USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n"), sch)
    assert "column EVENT_TYPE: column is missing from the header, and its type string " \
           "does not allow null" in reason


def test_unnamed_header_column(src):
    reason = failure(src("i.csv", "USER_ID,,ITEM_ID,TIMESTAMP\n1,x,a,1\n"))
    assert "line 1: column 2 of the header has no name" in reason


# --- row problems ----------------------------------------------------------------

@pytest.mark.parametrize("row,expected", [
    ("1,a,abc", "line 2, column TIMESTAMP: 'abc' is not an integer (long)"),
    ("1,a,1.5", "line 2, column TIMESTAMP: '1.5' is not an integer (long)"),
    ("1,a,", "line 2, column TIMESTAMP: empty value, but type long does not allow null"),
    (",a,1", "line 2, column USER_ID: empty value, but type string does not allow null"),
    ("1,a,-5", "line 2, column TIMESTAMP: '-5' is negative; TIMESTAMP is Unix time in seconds"),
    ("1,a,1545694248000",
     "line 2, column TIMESTAMP: '1545694248000' is too large for Unix time in seconds"),
    ("1,a,99999999999999999999", "line 2, column TIMESTAMP: '99999999999999999999' is out of "
                                 "range for long"),
    ("1,a", "line 2: 2 values, but the header has 3 columns"),
    ("1,a,1,extra", "line 2: 4 values, but the header has 3 columns"),
])
def test_bad_rows_name_line_column_and_rule(src, row, expected):
    reason = failure(src("i.csv", f"USER_ID,ITEM_ID,TIMESTAMP\n{row}\n"))
    assert f"s3://{src.bucket}/i.csv {expected}" in reason


@pytest.mark.parametrize("field,value,expected", [
    ({"name": "N", "type": "int"}, "3000000000", "'3000000000' is out of range for int"),
    ({"name": "N", "type": "float"}, "cheap", "'cheap' is not a number (float)"),
    ({"name": "N", "type": "double"}, "inf", "'inf' is not a finite number (double)"),
    ({"name": "N", "type": "boolean"}, "yes", "'yes' is not a boolean (true or false)"),
    ({"name": "N", "type": ["null", "int"]}, "x", "'x' is not an integer (int)"),
])
def test_avro_types(src, field, value, expected):
    sch = interactions_schema(field)
    reason = failure(src("i.csv", f"USER_ID,ITEM_ID,TIMESTAMP,N\n1,a,1,{value}\n"), sch)
    assert f"line 2, column N: {expected}" in reason


def test_line_numbers_count_quoted_line_breaks_and_blank_lines(src):
    body = ('USER_ID,ITEM_ID,TIMESTAMP\r\n'
            '1,"multi\r\nline\r\nitem",1\r\n'   # lines 2-4
            '\r\n'                               # line 5, blank
            '2,b,oops\r\n')                      # line 6
    assert "line 6, column TIMESTAMP: 'oops'" in failure(src("i.csv", body))


def test_line_numbers_count_lone_carriage_returns_in_quotes(src):
    body = 'USER_ID,ITEM_ID,TIMESTAMP\n1,"a\rb",1\n2,b,oops\n'
    assert "line 4, column TIMESTAMP: 'oops'" in failure(src("i.csv", body))


def test_first_problems_shown_and_all_counted(src):
    body = "USER_ID,ITEM_ID,TIMESTAMP\n" + "".join(f"u,i,t{n}\n" for n in range(12)) + "u,i,1\n"
    reason = failure(src("i.csv", body), batch_rows=5)
    assert reason.startswith("The data does not match the dataset's schema (12 problems). ")
    assert "line 2, column TIMESTAMP: 't0'" in reason
    assert "line 6, column TIMESTAMP: 't4'" in reason and "'t5'" not in reason
    assert reason.endswith("; and 7 more.")


def test_problems_in_later_files_of_a_prefix(src):
    src("p/a.csv", "USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n")
    src("p/b.csv", "USER_ID,ITEM_ID,TIMESTAMP\n1,a,x\n")
    assert f"s3://{src.bucket}/p/b.csv line 2, column TIMESTAMP" in failure(f"s3://{src.bucket}/p/")


# --- sources that cannot be read --------------------------------------------------

def test_missing_bucket(s3):
    assert failure("s3://no-such-bucket/r.csv") == \
        "Cannot read s3://no-such-bucket/r.csv: S3 bucket no-such-bucket does not exist"


def test_missing_key(src):
    location = f"s3://{src.bucket}/nothing.csv"
    assert failure(location) == (f"Cannot read {location}: no object has "
                                 "that key and no object starts with that prefix")


def test_access_denied(src, monkeypatch):
    from botocore.exceptions import ClientError
    from chalicelib.datasets import objects

    def denied(location):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}},
                          "GetObject")
    location = src("i.csv", "USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n")
    monkeypatch.setattr(objects.port, "open_stream", denied)
    assert failure(location) == (f"Cannot read {location}: access to {location} is denied "
                                 "(allow s3:GetObject and s3:ListBucket on the bucket)")


def test_empty_file(src):
    location = src("e.csv", b"")
    assert failure(location) == f"{location} is empty: the first row must hold the column headers"


def test_bom_only_or_blank_file_is_empty(src):
    location = src("b.csv", "\ufeff\r\n\r\n")
    assert failure(location) == f"{location} is empty: the first row must hold the column headers"


def test_header_only(src):
    location = src("h.csv", "USER_ID,ITEM_ID,TIMESTAMP\r\n")
    assert failure(location) == f"{location} holds column headers but no data rows"


def test_not_utf8(src):
    location = src("l.csv", "USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n1,caf\xe9,1\n".encode("latin-1"))
    assert f"{location} line 3: the file is not UTF-8 text" in failure(location)


def test_unterminated_quote(src):
    # The open quote swallows the rest of the file into one cell.
    reason = failure(src("q.csv", 'USER_ID,ITEM_ID,TIMESTAMP\n1,"a,1\n2,b,2\n'))
    assert "line 2: 2 values, but the header has 3 columns" in reason


def test_cell_beyond_the_csv_field_limit(src):
    location = src("n.csv", "USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n2," + "b" * 200_000 + ",2\n")
    reason = failure(location)
    assert f"{location} line 3: not readable as CSV (field larger than field limit" in reason


def test_not_an_s3_location(src):
    assert failure("https://example.com/x.csv") == \
        "dataLocation 'https://example.com/x.csv' is not an s3://bucket/key location"


def test_prefix_without_csv(src):
    src("d/readme.txt", "hello")
    location = f"s3://{src.bucket}/d/"
    assert failure(location) == f"No .csv file under {location} (1 other object(s) found)"


def test_failed_import_leaves_no_objects(src):
    run(src("good.csv", "USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n"))
    before = versions.list_versions(ARN)
    failure(src("bad.csv", "USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n2,b,x\n"), batch_rows=1)
    assert versions.list_versions(ARN) == before


# --- schemas the importer refuses -------------------------------------------------

@pytest.mark.parametrize("fields,dtype,message", [
    ([{"name": "ITEM_ID", "type": "string"}], "Interactions",
     "a Interactions schema must have a USER_ID field"),
    ([{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
      {"name": "TIMESTAMP", "type": "string"}], "Interactions",
     "field TIMESTAMP must be of type int or long, not string"),
    ([{"name": "ITEM_ID", "type": "string"}, {"name": "GENRE", "type": "string"}], "Items",
     "field GENRE: in a Items dataset every string field must be marked"),
    ([{"name": "USER_ID", "type": {"type": "array", "items": "string"}}], "Users",
     "field USER_ID: type"),
    ([{"name": "USER_ID", "type": ["null", "string"]}], "Users",
     "field USER_ID is required and cannot be a union with null"),
])
def test_schema_rules(fields, dtype, message):
    with pytest.raises(schema.SchemaError) as e:
        schema.parse({"type": "record", "name": dtype, "fields": fields}, dtype)
    assert message in str(e.value)


# --- round trip of whatever csv.writer produces ------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

cell_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
                    min_size=1, max_size=12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(cell_text, cell_text, st.integers(0, 10 ** 10 - 1)),
                     min_size=1, max_size=30),
       terminator=st.sampled_from(["\n", "\r\n"]), bom=st.booleans(),
       order=st.permutations(["USER_ID", "ITEM_ID", "TIMESTAMP"]))
def test_anything_csv_writer_writes_reads_back(src, rows, terminator, bom, order):
    import csv
    import io
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=terminator)
    writer.writerow(order)
    for user, item, ts in rows:
        record = {"USER_ID": user, "ITEM_ID": item, "TIMESTAMP": str(ts)}
        writer.writerow([record[name] for name in order])
    text = ("\ufeff" if bom else "") + buffer.getvalue()
    result = run(src("h.csv", text), batch_rows=7)
    data = versions.load(ARN, result.version_id)
    assert data.strings("USER_ID").tolist() == [r[0] for r in rows]
    assert data.strings("ITEM_ID").tolist() == [r[1] for r in rows]
    assert data.columns["TIMESTAMP"].tolist() == [r[2] for r in rows]
