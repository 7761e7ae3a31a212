"""Large imports in byte ranges (chalicelib/datasets/ranges.py): where the cuts fall, and a
merged import equal to the one-range import of the same file - rows, dictionaries, and the
failureReason when the data does not fit (seed: "Formatting your Input Data")."""
import itertools

import numpy as np
import pytest

from chalicelib.datasets import importer, ranges, versions
from tests.conftest import _aws_client, moto_world
from tests.unit.test_csv_import import ARN, OPTIONAL_EVENTS, interactions_schema

_buckets = itertools.count()


@pytest.fixture(scope="module")
def s3():
    with moto_world():
        yield _aws_client("s3")


@pytest.fixture
def put(s3):
    bucket = f"ranges-{next(_buckets)}"
    s3.create_bucket(Bucket=bucket)

    def put(key, body):
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        return f"s3://{bucket}/{key}"
    return put


def rows_text(n, line_end="\n", start=0):
    return "".join(f"u{i % 7},item{i % 13},{1000 + i},click,{i % 5}.5{line_end}"
                   for i in range(start, start + n))


HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"
SCHEMA = interactions_schema(*OPTIONAL_EVENTS)


def in_ranges(location, range_bytes=200, head_bytes=64, schema=SCHEMA):
    """What the workflow does: plan, one read_range per range (the Map), merge."""
    split = ranges.plan(location, range_bytes, schema, head_bytes=head_bytes)
    version_id = versions.new_version_id()
    for index, (file, start, end) in enumerate(split["ranges"]):
        ranges.read_range(ARN, schema, version_id, split["bucket"], split["files"][file],
                          start, end, f"{index:05d}")
    return split, ranges.merge(ARN, schema, version_id, location, split)


def assert_same_version(a, b):
    left, right = versions.load(ARN, a.version_id), versions.load(ARN, b.version_id)
    assert left.rows == right.rows
    for name in left.columns:
        np.testing.assert_array_equal(left.columns[name], right.columns[name])
    for name in left.nulls:
        np.testing.assert_array_equal(left.nulls[name], right.nulls[name])
    for name in left.dictionaries:
        assert left.dictionaries[name].tolist() == right.dictionaries[name].tolist()


def one_range(location):
    return importer.import_location(location, ARN, SCHEMA)


def same_failure(location):
    """The failureReason of the file read in one range, after checking the ranges give it."""
    with pytest.raises(importer.ImportFailed) as one:
        one_range(location)
    with pytest.raises(importer.ImportFailed) as split:
        in_ranges(location)
    assert str(split.value) == str(one.value)
    return str(one.value)


@pytest.mark.parametrize("line_end,bom", [("\n", ""), ("\r\n", ""), ("\n", "\ufeff")])
def test_cuts_fall_on_line_starts_after_the_header(put, line_end, bom):
    body = f"{bom}{HEADER}{line_end}{rows_text(60, line_end)}".encode()
    location = put("a.csv", body)
    split = ranges.plan(location, 200, SCHEMA, head_bytes=64)
    cuts = split["ranges"]
    assert len(cuts) > 3
    header_end = len(f"{bom}{HEADER}{line_end}".encode())
    assert cuts[0][1] == header_end and cuts[-1][2] == len(body)
    for (_, _, end), (_, start, _) in zip(cuts, cuts[1:]):
        assert end == start and body[start - 1:start] == b"\n"
    assert split["files"][0]["header"] == HEADER.split(",")
    _, merged = in_ranges(location)
    assert_same_version(merged, one_range(location))


def test_quoted_line_breaks_after_a_cut_read_again_in_one_range(put):
    # A quoted cell with line breaks (and a comma) in the middle of the file: a cut may
    # fall inside it, so from the range holding the first quote the file is read whole.
    middle = 'u1,"item\nwith, a\nbreak' + "\nmore text" * 40 + '",5000,click,1.5\n'
    body = f"{HEADER}\n{rows_text(30)}{middle}{rows_text(30, start=30)}".encode()
    location = put("q.csv", body)
    split, merged = in_ranges(location, range_bytes=150)
    assert len(split["ranges"]) > 3
    assert_same_version(merged, one_range(location))
    cut_inside = [start for _, start, _ in split["ranges"]
                  if body.index(b'"') < start < body.rindex(b'"')]
    assert cut_inside  # the case this test is about
    assert merged.rows == 61
    assert any(v.startswith("item\nwith, a\nbreak\nmore")
               for v in versions.load(ARN, merged.version_id).dictionaries["ITEM_ID"])


def test_a_quote_near_the_start_keeps_the_file_whole(put):
    body = f'{HEADER}\nu1,"a",1,click,1\n{rows_text(40)}'.encode()
    split = ranges.plan(put("h.csv", body), 100, SCHEMA, head_bytes=1 << 20)
    assert split["ranges"] == [[0, 0, len(body)]]


def test_small_files_and_headers_that_do_not_map_are_one_range(put):
    put("dir/a.csv", f"{HEADER}\n{rows_text(3)}".encode())
    put("dir/b.csv", f"USER_ID,ITEM,TIMESTAMP\n{rows_text(40)}".encode())
    location = put("dir/c.csv", f"{HEADER}\n{rows_text(40)}".encode()).rsplit("/", 1)[0] + "/"
    split = ranges.plan(location, 300, SCHEMA, head_bytes=64)
    per_file = [sum(1 for r in split["ranges"] if r[0] == i) for i in range(3)]
    assert per_file[0] == 1 and per_file[1] == 1 and per_file[2] > 1


def test_problems_in_several_ranges_read_as_in_one_range(put):
    lines = rows_text(80).splitlines(keepends=True)
    lines[10] = "u1,i1,-5,click,1\n"          # negative TIMESTAMP
    lines[45] = "u1,i1,7\n"                     # too few values
    lines[70] = "u1,i1,8,click,abc\n"           # not a number
    lines[71] = "\n"                            # blank line: skipped, still counted
    lines[75] = "u2,i2,x,click,1\r\n"           # CRLF in an LF file, and a bad TIMESTAMP
    location = put("bad.csv", f"{HEADER}\n{''.join(lines)}".encode())
    reason = same_failure(location)
    assert "line 12, column TIMESTAMP" in reason and "line 77" in reason


def test_bytes_that_are_not_utf8_in_a_later_range(put):
    body = f"{HEADER}\n{rows_text(50)}".encode() + b"u\xff,i,1,click,1\n" + rows_text(5).encode()
    location = put("latin.csv", body)
    reason = same_failure(location)
    assert "line 52: the file is not UTF-8 text" in reason


def test_a_read_error_ends_the_file_as_in_one_range(put):
    # A one-range read stops at bytes that are not UTF-8: the problems of later ranges of
    # that file are neither shown nor counted, those of the next file are.
    body = (f"{HEADER}\n{rows_text(50)}".encode() + b"u\xff,i,1,click,1\n"
            + rows_text(40).encode() + b"u1,i1,-5,click,1\n" + rows_text(5).encode())
    put("stop/a.csv", body)
    location = put("stop/b.csv", f"{HEADER}\nu1,i1,x,click,1\n".encode()).rsplit("/", 1)[0] + "/"
    reason = same_failure(location)
    assert "(2 problems)" in reason and "b.csv line 2, column TIMESTAMP" in reason


def test_several_files_merge_in_order(put):
    put("many/a.csv", f"{HEADER}\n{rows_text(40)}".encode())
    crlf = rows_text(45, "\r\n", start=7)
    location = put("many/b.csv", f"{HEADER}\r\n{crlf}".encode())
    location = location.rsplit("/", 1)[0] + "/"
    split, merged = in_ranges(location)
    assert len(split["ranges"]) > 4
    assert_same_version(merged, one_range(location))
    assert merged.rows == 85
