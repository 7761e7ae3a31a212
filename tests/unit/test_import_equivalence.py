"""Generated CSV files imported three ways give one answer (seed: "Formatting your Input Data",
"Datasets and Schemas"): the columnar fast path (a plain header), the exact csv path of the
whole file (the same file with its header quoted, which csv reads alike but the fast path
never takes) and the byte ranges of the import workflow's Map, merged. Same rows, nulls and
dictionaries (first-seen order), or the same failureReason with file, line and column.

The cells mix plain values with every form the fast path must leave to the exact rules:
'+5', ' 5', '1e5', 'nan', 'inf', leading zeros, 17- to 20-digit numbers, '-0', '1.', '.5',
empty cells of nullable and required fields, multi-byte UTF-8 ids, quoted cells with commas
and line breaks, CRLF files, blank lines, rows of the wrong width, a missing last line end.
Seeded, so a failure names its seed."""
import functools
import random

import pytest

from chalicelib.datasets import columnar, csv_stream, importer, objects, versions
from tests.unit.test_csv_import import ARN, interactions_schema
from tests.unit.test_import_ranges import assert_same_version, in_ranges, put, s3  # noqa: F401

SCHEMA = interactions_schema(
    {"name": "EVENT_VALUE", "type": ["null", "float"]},
    {"name": "N", "type": ["null", "int"]},
    {"name": "D", "type": "double"},
    {"name": "B", "type": ["null", "boolean"]},
    {"name": "S", "type": ["null", "string"], "categorical": True})
HEADER = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE", "N", "D", "B", "S"]

ODD_NUMBERS = ["+5", " 5", "5 ", "1e5", "1E-3", "nan", "inf", "-inf", "007", "-0", "1.", ".5",
               "-.5", "-", ".", "1_0", "0x1f", "12345678901234567", "123456789012345678",
               "1234567890123456789", "99999999999999999999", "2147483648", "-2147483649",
               "1234567890123456", "0.1234567890123456", "12345678.9", "1..2", "--1", "x", ""]
IDS = ["u", "é", "日本", "😀", "x" * 8, "y" * 9, "ab", "\ufeffz", " a"]


def cell(rnd, column, odd_rate):
    odd = rnd.random() < odd_rate
    if column in ("USER_ID", "ITEM_ID", "S"):
        if odd:
            return rnd.choice(["", '"q,1"', '"line\nbreak"', '"say ""hi"""', "a b"])
        return rnd.choice(IDS) + str(rnd.randrange(rnd.choice([5, 60, 3000])))
    if column == "B":
        return rnd.choice(["true", "0", "1", "FALSE", ""] + ([" true", "no"] if odd else []))
    if odd:
        return rnd.choice(ODD_NUMBERS)
    if column in ("TIMESTAMP", "N"):
        return ("-" if column == "N" and rnd.random() < 0.2 else "") + str(rnd.randrange(10 ** 9))
    whole, part = str(rnd.randrange(10 ** rnd.randint(0, 7))), str(rnd.randrange(1000))
    return rnd.choice(["-", ""]) + rnd.choice([whole, f"{whole}.{part}", f"{whole}.{part}0"])


def generated(seed):
    """A file's bytes: mostly valid, sometimes odd (see the module doc)."""
    rnd = random.Random(seed)
    odd = rnd.random() < 0.5
    rate = rnd.choice([0.002, 0.02]) if odd else 0
    line_end = rnd.choice(["\n", "\r\n"])
    lines = [",".join(HEADER)]
    for _ in range(rnd.randint(1, 150)):
        row = [cell(rnd, c, rate) for c in HEADER]
        if odd and rnd.random() < 0.003:
            row = row[:rnd.randint(1, 9)]
        lines.append(",".join(row))
        if odd and rnd.random() < 0.01:
            lines.append("")
    text = line_end.join(lines) + (line_end if rnd.random() < 0.8 else "")
    if odd and rnd.random() < 0.1:
        text = "\ufeff" + text
    return text.encode()


def outcome(location):
    try:
        return importer.import_location(location, ARN, SCHEMA)
    except importer.ImportFailed as e:
        return str(e).replace(location, "<file>")


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of about 1 KB (4 MB otherwise): a file is read in many of them."""
    monkeypatch.setattr(csv_stream, "blocks", functools.partial(csv_stream.blocks, size=1024))


@pytest.fixture
def memory(monkeypatch):
    """Data versions written to and read from a dict instead of S3 (fast)."""
    stored = {}
    monkeypatch.setattr(objects, "put_bytes", lambda b, k, data, *_: stored.__setitem__(k, data))
    monkeypatch.setattr(objects, "get_bytes", lambda b, k: stored[k])
    return stored


def read(body):
    """The version (or failureReason) of one file read from memory, as the importer does."""
    writer = versions.VersionWriter(ARN, SCHEMA, bucket="memory")
    problems = importer.Problems()
    rows = importer.read_csv(lambda: [body[i:i + 700] for i in range(0, len(body), 700)],
                             "<file>", SCHEMA, writer, problems)
    if problems.count:
        return problems.reason()
    writer.finish(["<file>"])
    return importer.ImportResult(writer.version_id, rows, [], {})


def test_the_fast_path_reads_what_the_exact_path_reads(memory, small_blocks, monkeypatch):
    taken, parse_block = [], columnar.parse_block

    def counted(*args):
        out = parse_block(*args)
        taken.append(out is not None)
        return out
    monkeypatch.setattr(columnar, "parse_block", counted)
    failed = 0
    for seed in range(200):
        body = generated(seed)
        text = body.decode("utf-8-sig")
        quoted = ('"USER_ID"' + text[len("USER_ID"):]).encode()     # csv reads it alike
        fast, exact = read(body), read(quoted)
        if isinstance(exact, str):
            failed += 1
            assert fast == exact, seed
        else:
            assert isinstance(fast, importer.ImportResult), (seed, fast)
            assert fast.rows == exact.rows
            assert_same_version(fast, exact)
    assert 20 < failed < 180     # both outcomes are covered
    assert 200 < sum(taken) < len(taken)     # blocks read on either path


def test_ranged_imports_read_what_one_range_reads(put, small_blocks):  # noqa: F811
    for seed in range(200, 208):
        location = put(f"ranged-{seed}.csv", generated(seed))
        one = outcome(location)
        try:
            ranged = in_ranges(location, range_bytes=1500, head_bytes=256, schema=SCHEMA)[1]
        except importer.ImportFailed as e:
            ranged = str(e).replace(location, "<file>")
        if isinstance(one, str):
            assert ranged == one, seed
        else:
            assert_same_version(ranged, one)
