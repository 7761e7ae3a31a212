"""aws-item-affinity / aws-item-attribute-affinity (chalicelib/algorithms/affinity.py): the
segments follow the interactions, attribute queries select the right items, bad expressions
name the position, and the model survives its artifacts."""
import numpy as np
import pytest

from chalicelib.algorithms import data as D
from chalicelib.algorithms.affinity import (ItemAffinity, ItemAttributeAffinity, QueryError,
                                            parse_attributes)
from chalicelib.algorithms.base import Metadata, load_model


def two_tastes(seed=0):
    """Even users take items 0-19, odd users items 20-39."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(80), 12)
    items = (users % 2) * 20 + rng.integers(0, 20, users.size)
    data = D.from_arrays([f"u{u}" for u in users], [f"i{i:02d}" for i in items], np.arange(users.size))
    genre = np.array(["Comedy|Drama" if int(i[1:]) < 20 else "Horror" for i in data.item_ids])
    data.items = Metadata(fields={"GENRE": genre, "YEAR": np.full(data.n_items, 1999.0)},
                          categorical=("GENRE",))
    return data


def parity(model, users):
    return [int(model.user_ids[u][1:]) % 2 for u in users]


def test_item_segments_are_the_users_of_its_taste():
    model = ItemAffinity().fit(two_tastes(), {})
    idx, scores = model.segment(model.item_weights(np.array([3, 30])), 10)
    assert parity(model, idx[0]) == [0] * 10 and parity(model, idx[1]) == [1] * 10
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_attribute_segments_and_round_trip(tmp_path):
    model = ItemAttributeAffinity().fit(two_tastes(), {})
    horror = model.attribute_weights('ITEMS.GENRE = "Horror"')
    assert horror.sum() == 20 and horror[20:].all()
    assert model.attribute_weights('genre = "Drama" AND YEAR = 1999').sum() == 20
    assert model.attribute_weights('GENRE = "Horror" OR (GENRE = "Comedy")').sum() == 40
    assert not model.attribute_weights('GENRE = "Horror" AND GENRE = "Comedy"').any()
    idx, _ = model.segment(horror, 5)
    assert parity(model, idx[0]) == [1] * 5
    model.save(str(tmp_path))
    again = load_model(str(tmp_path))
    assert type(again) is type(model)
    assert np.array_equal(again.segment(horror, 5)[0], idx)


@pytest.mark.parametrize("text,expected", [
    ('GENRE "x"', "expected '=' at position 7"),
    ('GENRE = "a" AND', "at position 16, found the end"),
    ('(GENRE = "a"', "expected ')'"),
    ('GENRE = "a" ; ', "unexpected character ';' at position 13"),
    ("", "non-empty"),
    ('USERS.AGE = 3', "only fields of the Items dataset"),
])
def test_bad_expressions_name_the_position(text, expected):
    with pytest.raises(QueryError) as e:
        parse_attributes(text)
    assert expected in str(e.value)


def test_unknown_field_and_items_needed():
    model = ItemAttributeAffinity().fit(two_tastes(), {})
    with pytest.raises(QueryError, match="PRICE is not a field"):
        model.attribute_weights('PRICE = 3')
    data = two_tastes()
    data.items = None
    with pytest.raises(ValueError, match="needs an Items dataset"):
        ItemAttributeAffinity().fit(data, {})
    with pytest.raises(QueryError, match="without an Items dataset"):
        ItemAffinity().fit(data, {}).attribute_weights('GENRE = "Horror"')
