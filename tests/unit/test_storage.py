"""The resource store, the S3 and EventBridge ports, the table definitions (under moto)."""
import threading
from datetime import datetime, timezone

import boto3
import pytest

from chalicelib.domain import lifecycle
from chalicelib.protocol.errors import (InvalidNextTokenException, ResourceAlreadyExistsException,
                                        ResourceInUseException, ResourceNotFoundException)
from chalicelib.storage import codec, objects, schedules, tables
from chalicelib.storage.resources import (ConditionFailed, ResourceStore, TransactionFailed,
                                          _encode_token, now, store)


def record(arn, status=lifecycle.ACTIVE, **extra):
    return {"arn": arn, "status": status, "creationDateTime": now(), **extra}


def test_codec_round_trip():
    when = datetime(2019, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    value = {"name": "x", "n": 3, "f": 0.1, "flag": True, "none": None, "creationDateTime": when,
             "nested": {"lastUpdatedDateTime": when, "list": [1, 2.5, "a", {"b": None}]},
             "empty": "", "raw": b"\x00\x01"}
    back = codec.decode(codec.encode(value))
    assert "none" not in back
    assert back == {k: v for k, v in value.items() if k != "none"}
    assert isinstance(back["n"], int) and isinstance(back["f"], float)
    with pytest.raises(TypeError):
        codec.encode({"x": object()})


def test_put_new_is_unique(aws):
    s = store()
    s.put_new(record("arn:a"), "thing")
    with pytest.raises(ResourceAlreadyExistsException):
        s.put_new(record("arn:a"), "thing")
    assert s.get("arn:a")["resourceType"] == "thing"
    assert s.get("arn:a", "other") is None
    assert s.get("arn:missing") is None
    with pytest.raises(ResourceNotFoundException) as e:
        s.require("arn:missing", "dataset-group")
    assert e.value.message == "Resource Arn arn:missing does not exist."  # the service's words


def test_concurrent_put_new(aws, atomic_moto):
    s, results = ResourceStore(), []
    barrier = threading.Barrier(20)

    def put():
        barrier.wait()
        try:
            s.put_new(record("arn:race"), "thing")
            results.append("ok")
        except ResourceAlreadyExistsException:
            results.append("exists")

    threads = [threading.Thread(target=put) for _ in range(20)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == ["exists"] * 19 + ["ok"]


def test_conditional_update(aws):
    s = store()
    s.put_new(record("arn:u", lifecycle.CREATE_PENDING, lock="run-1"), "thing")
    out = s.update("arn:u", {"x": 1, "gone": None}, expect_status=[lifecycle.CREATE_PENDING])
    assert out["x"] == 1
    with pytest.raises(ConditionFailed) as e:
        s.update("arn:u", {"x": 2}, expect_status=[lifecycle.ACTIVE])
    assert e.value.current["x"] == 1
    with pytest.raises(ConditionFailed):
        s.update("arn:u", {"x": 2}, absent=["lock"])
    with pytest.raises(ConditionFailed):
        s.update("arn:u", remove=["lock"], equals={"lock": "run-2"})
    assert "lock" not in s.update("arn:u", remove=["lock"], equals={"lock": "run-1"})
    with pytest.raises(ConditionFailed) as e:
        s.update("arn:nothing", {"x": 1})
    assert e.value.current is None


def test_transition_moves_forward_only(aws):
    s = store()
    s.put_new(record("arn:t", lifecycle.CREATE_PENDING), "thing")
    moved = s.transition("arn:t", lifecycle.CREATE_IN_PROGRESS)
    assert moved["status"] == lifecycle.CREATE_IN_PROGRESS and "lastUpdatedDateTime" in moved
    # a retried task repeating the move: no-op
    assert s.transition("arn:t", lifecycle.CREATE_IN_PROGRESS)["status"] == lifecycle.CREATE_IN_PROGRESS
    done = s.transition("arn:t", lifecycle.CREATE_FAILED, failure_reason="bad row 3", rows=0)
    assert (done["status"], done["failureReason"], done["rows"]) == (lifecycle.CREATE_FAILED, "bad row 3", 0)
    with pytest.raises(lifecycle.TransitionRefused) as e:
        s.transition("arn:t", lifecycle.CREATE_IN_PROGRESS)  # a stale task cannot go back
    assert e.value.current == lifecycle.CREATE_FAILED
    with pytest.raises(ResourceNotFoundException):
        s.transition("arn:none", lifecycle.ACTIVE)


def test_guarded_delete(aws):
    s = store()
    s.put_new(record("arn:d"), "thing")
    s.put_new(record("arn:busy", lifecycle.CREATE_IN_PROGRESS), "thing")
    _, previous = s.begin_delete("arn:d", "thing")
    assert previous == lifecycle.ACTIVE and s.get("arn:d")["status"] == lifecycle.DELETE_PENDING
    s.revert_delete("arn:d", previous)
    assert s.get("arn:d")["status"] == lifecycle.ACTIVE
    s.begin_delete("arn:d", "thing")
    s.delete("arn:d", expect_status=[lifecycle.DELETE_PENDING])
    assert s.get("arn:d") is None
    with pytest.raises(ResourceInUseException):
        s.begin_delete("arn:busy", "thing")
    with pytest.raises(ResourceNotFoundException):
        s.begin_delete("arn:d", "thing")
    with pytest.raises(ConditionFailed):
        s.delete("arn:busy", expect_status=[lifecycle.ACTIVE])


def test_transaction_all_or_nothing(aws):
    s = store()
    s.put_new(record("arn:parent"), "parent")
    with pytest.raises(TransactionFailed) as e:
        s.transact([s.op_put_new(record("arn:child"), "child", parent_arn="arn:parent"),
                    s.op_check("arn:parent", expect_status=[lifecycle.DELETE_PENDING])])
    assert e.value.failed(1) and not e.value.failed(0)
    assert s.get("arn:child") is None
    s.transact([s.op_put_new(record("arn:child"), "child", parent_arn="arn:parent"),
                s.op_check("arn:parent", expect_status=[lifecycle.ACTIVE])])
    assert s.children("arn:parent", ["child", "other"]) == ["arn:child"]


def test_list_pages_by_type_and_parent(aws):
    s = store()
    for i in range(12):
        s.put_new(record(f"arn:c{i:02d}"), "child", parent_arn="arn:p1" if i % 2 else "arn:p2")
    s.put_new(record("arn:x"), "other")
    everything = list(s.iterate("child"))
    assert [r["arn"] for r in everything] == [f"arn:c{i:02d}" for i in reversed(range(12))]
    seen, token = [], None
    while True:
        page, token = s.list("child", "arn:p1", max_results=2, next_token=token)
        seen += [r["arn"] for r in page]
        if not token:
            break
    assert seen == [f"arn:c{i:02d}" for i in (11, 9, 7, 5, 3, 1)]
    page, token = s.list("child", "arn:p1", max_results=6)
    assert len(page) == 6 and token is None
    assert s.list("nothing") == ([], None)


def test_tokens_are_checked(aws):
    s = store()
    for i in range(3):
        s.put_new(record(f"arn:k{i}"), "child", parent_arn="arn:p")
    _, token = s.list("child", "arn:p", max_results=1)
    assert s.list("child", "arn:p", max_results=1, next_token=token)[0]
    for bad in ["", "!!!", "e30", token[:-4],
                _encode_token("byParent", "child|arn:other", {"arn": "a", "sortKey": "s",
                                                              "parentKey": "child|arn:other"}),
                _encode_token("byParent", "child|arn:p", {"arn": "a", "sortKey": 5,
                                                          "parentKey": "child|arn:p"})]:
        if not bad:
            continue
        with pytest.raises(InvalidNextTokenException):
            s.list("child", "arn:p", next_token=bad)
    with pytest.raises(InvalidNextTokenException):
        s.list("child", next_token=token)  # a token of another listing


def test_tables_definition_and_ensure(aws):
    client = boto3.client("dynamodb")
    assert tables.ensure_tables(client) == ["personalize-resources", "personalize-events",
                                            "personalize-access"]  # idempotent
    described = client.describe_table(TableName="personalize-resources")["Table"]
    assert described["KeySchema"] == [{"AttributeName": "arn", "KeyType": "HASH"}]
    assert {i["IndexName"] for i in described["GlobalSecondaryIndexes"]} == {"byType", "byParent"}
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    for spec in tables.TABLES.values():
        keys = {k["AttributeName"] for k in spec["KeySchema"]}
        for index in spec.get("GlobalSecondaryIndexes", []):
            keys |= {k["AttributeName"] for k in index["KeySchema"]}
        assert keys == {a["AttributeName"] for a in spec["AttributeDefinitions"]}


def test_objects_port(aws, tmp_path):
    uri = objects.put_bytes("s3://personalize-data/in/a.csv", b"USER_ID\n1\n")
    assert uri == "s3://personalize-data/in/a.csv"
    assert objects.get_bytes(uri) == b"USER_ID\n1\n"
    objects.put_bytes("in/b.csv", b"xyz")  # a bare key: the data bucket
    assert objects.head("s3://personalize-data/in/b.csv")["size"] == 3
    assert objects.head("s3://personalize-data/in/none") is None
    assert [o["key"] for o in objects.list_prefix("s3://personalize-data/in/")] == ["in/a.csv", "in/b.csv"]
    assert objects.total_size("s3://personalize-data/in/") == 13
    assert objects.total_size("s3://personalize-data/in/a.csv") == 10
    path = tmp_path / "f"
    path.write_bytes(b"file")
    objects.put_file("s3://personalize-data/f/x", str(path))
    objects.get_file("s3://personalize-data/f/x", str(tmp_path / "g"))
    assert (tmp_path / "g").read_bytes() == b"file"
    assert objects.open_stream("s3://personalize-data/f/x").read() == b"file"
    assert objects.delete_prefix("s3://personalize-data/in/") == 2
    assert objects.list_prefix("s3://personalize-data/in/") == []


def test_schedules_port_rule_names_and_removal(aws):
    name = schedules.rule_name("import", "arn:aws:personalize:us-east-1:0:dataset-import-job/" + "j" * 63)
    assert len(name) <= 64
    schedules.put_schedule(name, "rate(1 day)", "import", {"datasetImportJobArn": "a"})
    assert schedules.get_schedule(name) == "rate(1 day)"
    schedules.remove_schedule(name)
    schedules.remove_schedule(name)
    assert schedules.get_schedule(name) is None


def test_schedules_port_eventbridge(aws, monkeypatch):
    monkeypatch.setenv("IMPORT_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:import")
    monkeypatch.setenv("EVENTS_ROLE_ARN", "arn:aws:iam::123456789012:role/events")
    schedules.put_schedule("r1", "cron(0 12 * * ? *)", "import", {"datasetImportJobArn": "a"})
    events = boto3.client("events")
    assert events.describe_rule(Name="r1")["ScheduleExpression"] == "cron(0 12 * * ? *)"
    target = events.list_targets_by_rule(Rule="r1")["Targets"][0]
    assert target["Arn"].endswith("stateMachine:import") and target["RoleArn"].endswith("role/events")
    assert schedules.get_schedule("r1") == "cron(0 12 * * ? *)"
    schedules.remove_schedule("r1")
    assert schedules.get_schedule("r1") is None
