"""The importer's columnar fast path (chalicelib/datasets/columnar.py) gives exactly what the
exact path (`cells.convert`, seed: "Datasets and Schemas") gives, and declines every block
the exact path must read so that problems keep their file, line and column."""
import random

import numpy as np
import pytest

from chalicelib.datasets import cells, columnar
from chalicelib.datasets.schema import FieldSpec


def numbers(kind, n=4000, seed=0, short=False):
    """Cells of `kind`; `short`: decimals of at most 8 bytes and integers of at most 16 digits
    (read as machine words), else some longer (read byte by byte)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        if kind == "integer":
            digits = rnd.choice([1, 2, 5, 7] if short else [1, 2, 5, 8, 9, 10, 15, 16, 17, 18])
            v = str(rnd.randrange(10 ** digits))
            v = ("0" + v) if rnd.random() < 0.05 else v
        else:
            top = (3, 3) if short else (6, 7)
            a = str(rnd.randrange(10 ** rnd.randint(0, top[0])))
            b = str(rnd.randrange(10 ** rnd.randint(0, top[1])))
            v = rnd.choice([a, f"{a}.{b}", f".{b}", f"{a}.", f"{a}.{b}"])
        v = ("-" + v) if rnd.random() < 0.3 else v
        out.append("" if rnd.random() < 0.02 else v)
    return out


def parsed(values, spec, line_end="\n"):
    block = "".join(f"x,{v}{line_end}" for v in values).encode()
    return columnar.parse_block(block, 2, [(1, spec)])


@pytest.mark.parametrize("kind,type_", [("integer", "long"), ("decimal", "double"),
                                        ("decimal", "float")])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("short", [True, False])
def test_numbers_equal_the_exact_conversion(kind, type_, line_end, short):
    values = numbers(kind, short=short)
    longest = max(len(v.lstrip("-")) for v in values)
    limit = 16 if kind == "integer" else 8
    assert (longest <= limit) if short else (longest > limit)
    spec = FieldSpec("X", type_, True)
    rows, columns = parsed(values, spec, line_end)
    data, mask = columns["X"]
    expected, expected_mask = cells.convert(values, spec)
    assert rows == len(values)
    assert data.dtype == expected.dtype
    np.testing.assert_array_equal(data, expected)
    np.testing.assert_array_equal(np.signbit(data), np.signbit(expected))   # -0.0 stays -0.0
    np.testing.assert_array_equal(mask, expected_mask)


def test_other_valid_forms_go_through_the_exact_conversion():
    values = ["+5", " 7", "1_000", "12"]
    rows, columns = parsed(values, FieldSpec("N", "long", False))
    assert columns["N"][0].tolist() == [5, 7, 1000, 12]
    _, columns = parsed(["1e3", "2.5", " 7"], FieldSpec("F", "double", False))
    assert columns["F"][0].tolist() == [1000.0, 2.5, 7.0]
    _, columns = parsed(["true", "0", "FALSE"], FieldSpec("B", "boolean", False))
    assert columns["B"][0].tolist() == [1, 0, 0]


def test_string_codes_follow_first_seen_order_across_blocks():
    rnd = random.Random(3)
    values = [rnd.choice(["a", "bb", "é", "x" * 8, "y" * 9, "z" * 30]) + str(rnd.randrange(60))
              for _ in range(3000)]
    values[::97] = [""] * len(values[::97])
    dictionary = {}
    encoder = columnar.KeyCodes(dictionary)
    codes = []
    for start in range(0, len(values), 700):     # several blocks, short and long cells
        chunk = values[start:start + 700]
        _, columns = parsed(chunk, FieldSpec("ITEM_ID", "string", True))
        keys, mask = columns["ITEM_ID"]
        codes.extend(encoder.encode(keys, mask).tolist())
    text = {code: value for value, code in dictionary.items()}
    text[-1] = ""
    assert [text[c] for c in codes] == values
    assert list(dictionary) == [v for v in dict.fromkeys(values) if v]


@pytest.mark.parametrize("block", [
    b'u1,"quoted"\n',                 # a quote: csv reads it
    b"u1,i\x001\n",                   # NUL
    b"u1,i1\ru2,i2\n",                # a lone CR ends a line for csv
    b"u1,i1\r\nu2,i2\n",              # mixed line ends
    b"u1,i1\n\nu2,i2\n",              # a blank line (skipped by csv, counted as a line)
    b"u1,i1,extra\n",                 # more values than the header
    b"u1\n",                          # fewer
    b"u1,\xff\n",                     # not UTF-8
])
def test_blocks_the_exact_path_must_read_are_declined(block):
    specs = [(0, FieldSpec("USER_ID", "string", False)), (1, FieldSpec("ITEM_ID", "string", False))]
    assert columnar.parse_block(block, 2, specs) is None


@pytest.mark.parametrize("value,type_", [("x", "long"), ("", "long"), ("3000000000", "int"),
                                         ("1.2.3", "double"), ("-", "float"), ("inf", "double")])
def test_a_bad_cell_declines_the_block(value, type_):
    spec = FieldSpec("X", type_, False)
    assert parsed(["1", value, "2"], spec) is None


def test_timestamps_out_of_range_decline_the_block():
    spec = FieldSpec("TIMESTAMP", "long", False)
    assert parsed(["1", "-1"], spec) is None
    assert parsed(["1", "10000000000"], spec) is None
    assert parsed(["1", "9999999999"], spec)[1]["TIMESTAMP"][0].tolist() == [1, 9999999999]
