"""The filter expression language (chalicelib.filters): every construct of the grammar, the
documented rules with the positions they point at, filterValues, and the evaluator's masks."""
import numpy as np
import pytest

from chalicelib.filters import evaluate, language as L
from chalicelib.filters.evaluate import Inputs, NumberColumn, StringColumn
from chalicelib.filters.language import FilterError


def error(text):
    with pytest.raises(FilterError) as e:
        L.parse(text)
    return str(e.value), e.value.position


# ---- parser ----------------------------------------------------------------------------------

def test_every_construct_parses():
    f = L.parse('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")')
    (e,) = f.expressions
    assert (e.action, e.target, e.where.op) == ("EXCLUDE", "ItemID", "IN")
    assert [v.value for v in e.where.values] == ["click", "stream"]
    f = L.parse("include itemid where items.GENRE not in (\"a\\\"b\") or Items.PRICE >= -2.5 "
                "AND Items.PRICE < $MAX")
    where = f.expressions[0].where
    assert where.op == "OR" and where.parts[1].op == "AND"           # AND binds tighter
    assert where.parts[0].op == "NOT IN" and where.parts[0].values[0].value == 'a"b'
    assert where.parts[1].parts[0].values[0].value == -2.5
    assert f.parameters == {"MAX": ["INCLUDE"]}
    f = L.parse('EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE AND '
                'CurrentUser.TIER IN ("gold")')
    assert f.expressions[0].condition_if.op == "AND" and set(f.parameters) == {"GENRE", "AGE"}
    f = L.parse("INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE")
    assert f.uses_current_item and f.fields == [("Items", "PRICE"), ("Items", "GENRE")]
    f = L.parse('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (*) | '
                'INCLUDE ItemID WHERE Items.GENRE IN ("x") | INCLUDE ItemID WHERE Items.N = 3')
    assert [e.action for e in f.expressions] == ["EXCLUDE", "INCLUDE", "INCLUDE"]
    assert isinstance(f.expressions[0].where.values[0], L.Star)
    assert L.parse('INCLUDE UserID WHERE Users.TIER IN ("gold")').target == "UserID"


@pytest.mark.parametrize("text, position, words", [
    ('INCLUDE ItemID WHERE Items.GENRE FOO ("x")', 34, "expected IN, NOT IN or a comparison"),
    ('KEEP ItemID WHERE Items.GENRE IN ("x")', 1, "expected INCLUDE or EXCLUDE, found 'KEEP'"),
    ('INCLUDE Items WHERE Items.GENRE IN ("x")', 9, "expected ItemID or UserID"),
    ('INCLUDE ItemID Items.GENRE IN ("x")', 16, "expected WHERE"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("x"', 41, "found end of expression"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("x") FOO', 43, "expected AND, OR, IF"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("x)', 38, "never closed"),
    ("INCLUDE ItemID WHERE Items.GENRE IN ('x')", 38, "double quotes"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ($)', 38, "parameter name"),
    ('INCLUDE ItemID WHERE Items.PRICE < "10"', 36, "numerical data"),
    ('INCLUDE ItemID WHERE Items.GENRE NOT IN ($G)', 42, "NOT IN"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("x") AND Interactions.EVENT_TYPE IN ("a")', 47,
     "Item interaction and Item datasets"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("x") AND Users.AGE > 1', 47, "fields of Items"),
    ('INCLUDE ItemID WHERE Interactions.EVENT_VALUE IN ("a")', 22, "EVENT_TYPE only"),
    ('INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("a")', 46, "takes IN"),
    ('INCLUDE ItemID WHERE Items.GENRE IN (*)', 38, "only with Interactions.EVENT_TYPE"),
    ('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (*, "a")', 50, "cannot be listed"),
    ('INCLUDE ItemID WHERE CurrentUser.AGE > 3', 22, "only in an IF"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("x") IF Items.AGE > 3', 46, "CurrentUser.<field>"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.A > 3 OR CurrentUser.B > 1', 64, "AND only"),
    ('INCLUDE ItemID WHERE Users.AGE > 3', 22, "conditions on Items or Interactions"),
    ('INCLUDE UserID WHERE Items.GENRE IN ("x")', 22, "conditions on Users or Interactions"),
    ('INCLUDE UserID WHERE Users.GENRE IN CurrentItem.GENRE', 37, "CurrentItem"),
    ('INCLUDE ItemID WHERE Items.G IN ("x") | INCLUDE UserID WHERE Users.G IN ("x")', 41, "must all filter ItemID"),
    ('', 1, "empty"),
])
def test_errors_point_at_the_offending_token(text, position, words):
    message, at = error(text)
    assert at == position and message.startswith(f"Invalid filter expression at position {position}: ")
    assert words in message, message


def test_limits():
    many = " | ".join(f'EXCLUDE ItemID WHERE Items.F{k} IN ("x")' for k in range(L.MAX_FIELDS_PER_FILTER + 1))
    assert "distinct dataset fields" in error(many)[0]
    params = " OR ".join(f"Items.G IN ($P{k})" for k in range(L.MAX_PARAMETERS + 1))
    assert "placeholder parameters" in error(f"INCLUDE ItemID WHERE {params}")[0]
    long = 'INCLUDE ItemID WHERE Items.G IN ("' + "x" * L.MAX_EXPRESSION_LENGTH + '")'
    assert "characters long" in error(long)[0]


def test_check_fields_against_schemas():
    types = {"Items": {"GENRE": "string", "PRICE": "float", "NEW": "boolean"}, "Interactions": {}}
    L.check_fields(L.parse('INCLUDE ItemID WHERE Items.genre IN ("x") AND Items.PRICE < 3'), types)
    for text, words in (('INCLUDE ItemID WHERE Items.COLOR IN ("x")', "COLOR is not in the Items"),
                        ("INCLUDE ItemID WHERE Items.GENRE > 3", "GENRE is a string field"),
                        ('INCLUDE ItemID WHERE Items.NEW IN ("1")', "boolean"),
                        ('INCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.AGE > 1', "no Users")):
        with pytest.raises(FilterError, match=words):
            L.check_fields(L.parse(text), types)
    with pytest.raises(FilterError, match="no Interactions"):
        L.check_fields(L.parse('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("a")'), {"Items": {}})


def test_filter_values():
    assert L.parse_values("G", '"Comedy","Drama"') == ["Comedy", "Drama"]
    assert L.parse_values("G", '"a, b"') == ["a, b"]
    assert L.parse_values("P", "10") == [10.0]
    assert L.parse_values("G", "Comedy, Drama") == ["Comedy", "Drama"]
    for bad, words in (('"a" "b"', "expected a comma"), ('"a",', "must follow"), ("", "no value"),
                       ('"a', "never closed")):
        with pytest.raises(FilterError, match=words):
            L.parse_values("G", bad)


# ---- evaluator -------------------------------------------------------------------------------
# six items: genres, prices; the user clicked 1 and bought 2 (and 5, long ago)
GENRE = StringColumn(np.array([0, 1, 2, 0, -1, 1]),
                     [frozenset({"Comedy", "Drama"}), frozenset({"Horror"}), frozenset({"Sci-Fi"})])
PRICE = NumberColumn(np.array([5.0, 10.0, 20.0, np.nan, 1.0, 15.0]))


def inputs(user=None, item=None):
    def interacted(types):
        kinds = {1: "click", 2: "purchase", 5: "purchase"}
        mask = np.zeros(6, bool)
        for i, kind in kinds.items():
            if types is None or kind in types:
                mask[i] = True
        return mask
    columns = {"GENRE": GENRE, "PRICE": PRICE}
    return Inputs(6, lambda dataset, name: columns.get(name), interacted,
                  current_user=lambda name: (user or {}).get(name),
                  current_item=lambda name: (item or {}).get(name))


def allowed(text, values=None, **kw):
    f = L.parse(text)
    return evaluate.allowed(f, evaluate.bind(f, values), inputs(**kw)).tolist()


def test_items_conditions():
    assert allowed('INCLUDE ItemID WHERE Items.GENRE IN ("Drama")') == [1, 0, 0, 1, 0, 0]
    assert allowed('EXCLUDE ItemID WHERE Items.GENRE IN ("Drama", "Horror")') == [0, 0, 1, 0, 1, 0]
    assert allowed('INCLUDE ItemID WHERE Items.GENRE NOT IN ("Horror")') == [1, 0, 1, 1, 1, 0]
    assert allowed("INCLUDE ItemID WHERE Items.PRICE <= $P", {"P": "10"}) == [1, 1, 0, 0, 1, 0]
    assert allowed("INCLUDE ItemID WHERE Items.PRICE > 5 AND Items.PRICE < 20") == [0, 1, 0, 0, 0, 1]
    assert allowed('INCLUDE ItemID WHERE Items.PRICE = 1 OR Items.GENRE IN ("Sci-Fi")') == [0, 0, 1, 0, 1, 0]


def test_interactions_and_combinations():
    assert allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("PURCHASE")') == [1, 1, 0, 1, 1, 0]
    assert allowed("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (*)") == [1, 0, 0, 1, 1, 0]
    # Include A | Include B = A or B; with an EXCLUDE: (A or B) - C, in any order
    text = ('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") | INCLUDE ItemID WHERE '
            'Items.GENRE IN ("Horror") | INCLUDE ItemID WHERE Items.PRICE > 12')
    assert allowed(text) == [0, 0, 1, 0, 0, 1]


def test_unbound_exclude_parameters_drop_their_portion():
    text = 'EXCLUDE ItemID WHERE Items.GENRE IN ($G) AND Items.PRICE > 12'
    assert allowed(text) == [1, 1, 0, 1, 1, 0]                        # only PRICE > 12 used
    assert allowed(text, {"G": '"Horror"'}) == [1, 1, 1, 1, 1, 0]     # Horror and > 12
    assert allowed('EXCLUDE ItemID WHERE Items.GENRE IN ($G)') == [1] * 6
    with pytest.raises(FilterError, match=r"\$G is required"):
        allowed('INCLUDE ItemID WHERE Items.GENRE IN ($G)')
    with pytest.raises(FilterError, match="no parameter"):
        allowed('INCLUDE ItemID WHERE Items.GENRE IN ("x")', {"G": "x"})
    with pytest.raises(FilterError, match="not a number"):
        allowed("INCLUDE ItemID WHERE Items.PRICE < $P", {"P": '"cheap"'})


def test_current_user_and_current_item():
    text = 'EXCLUDE ItemID WHERE Items.GENRE IN ("Horror") IF CurrentUser.AGE < 18'
    assert allowed(text, user={"AGE": 12.0}) == [1, 0, 1, 1, 1, 0]
    assert allowed(text, user={"AGE": 30.0}) == [1] * 6
    assert allowed(text) == [1] * 6                                   # no Users row: IF fails
    related = "INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE AND Items.PRICE < CurrentItem.PRICE"
    assert allowed(related, item={"GENRE": frozenset({"Horror"}), "PRICE": 12.0}) == [0, 1, 0, 0, 0, 0]
    assert allowed(related) == [0] * 6                                # an item without metadata


# ---- what the runtime hands the evaluator ------------------------------------------------------

def test_histories_keep_event_types_and_the_filter_sees_the_latest_per_type():
    from types import SimpleNamespace

    from chalicelib.runtime import filtering, histories
    users = np.array(["a", "b", "a", "a", "a"])
    items = np.array([0, 1, 2, 3, 1])
    stamps = np.array([10, 11, 12, 13, 14])
    kinds = np.array([0, 1, 1, -1, 0])
    h = histories.build(users, items, stamps, 4, kinds, np.array(["Click", "purchase"]))
    got_items, got_types, got_ts = h.events("a")
    assert got_items.tolist() == [0, 2, 3, 1] and got_types.tolist() == ["click", "purchase", "", "click"]
    assert got_ts.tolist() == [10, 12, 13, 14] and h.events("nobody")[0].size == 0
    served = SimpleNamespace(histories=h, index=histories.ItemIndex(np.array(["i0", "i1", "i2", "i3"])))
    recorded = [{"itemId": "i3", "eventType": "PURCHASE", "sentAt": 20}]
    assert filtering.interacted(served, "a", recorded, frozenset({"purchase"})).tolist() == [0, 0, 1, 1]
    assert filtering.interacted(served, "a", recorded, None).tolist() == [1, 1, 1, 1]
    # only the most recent `limit` of each event type count
    assert filtering.interacted(served, "a", recorded, frozenset({"click"}), limit=1).tolist() == [0, 1, 0, 0]
    assert filtering.interacted(served, "a", recorded, None, limit=1).tolist() == [0, 1, 0, 1]


def test_promotion_places():
    from chalicelib.runtime import filtering
    assert [filtering.promoted_count(25, p) for p in (1, 10, 30, 100)] == [0, 3, 8, 25]
    regular, promoted = [("r1", 3.0), ("r2", 2.0), ("r3", 1.0)], [("p1", 9.0), ("p2", 1.0)]
    merged = filtering.promote(regular, promoted, "RID-1")
    assert merged == filtering.promote(regular, promoted, "RID-1")          # one answer, one order
    assert [pair for pair, is_p in merged if is_p] == promoted               # sorted among themselves
    assert [pair for pair, is_p in merged if not is_p] == regular
    places = {tuple(k for k, (_, is_p) in enumerate(filtering.promote(regular, promoted, f"RID-{s}"))
                    if is_p) for s in range(40)}
    assert len(places) > 3                                                  # random places
