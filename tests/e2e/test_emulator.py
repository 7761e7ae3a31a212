"""Starting and stopping the embedded emulator: clear messages, state kept."""
import os
import signal
import socket
import subprocess
import sys

import boto3
import pytest

from scripts import access, emulator, package
from scripts import stack as stack_cli


def test_port_taken_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(emulator.EmulatorError, match=f"127.0.0.1:{port} is already in use"):
            emulator.start(str(tmp_path), port=port)
    assert not os.path.exists(tmp_path / emulator.PID_FILE)


def test_missing_package_is_a_clear_error(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    with pytest.raises(emulator.EmulatorError, match="ministack is not usable.*make venv"):
        emulator.check_installed(str(bare / "bin" / "python"))


def test_nothing_to_stop_is_not_an_error(tmp_path):
    assert emulator.running(str(tmp_path)) is None
    assert emulator.stop(str(tmp_path)) is None


@pytest.mark.e2e
def test_state_survives_a_restart(tmp_path):
    """`make down` then `make up`: ministack saves its state on a graceful stop."""
    home = str(tmp_path)
    emu = emulator.start(home, persist=True)
    try:
        s3 = boto3.client("s3", endpoint_url=emu.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="k", Body=b"v")
        assert emulator.running(home).pid == emu.pid
        assert emulator.stop(home) == emu.pid
        assert emulator.running(home) is None
        emu = emulator.start(home, port=emu.port, persist=True)
        s3 = boto3.client("s3", endpoint_url=emu.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        assert s3.get_object(Bucket="kept", Key="k")["Body"].read() == b"v"
    finally:
        emulator.stop(home)


def _clients(emu):
    kw = {"endpoint_url": emu.endpoint, "region_name": "us-east-1",
          "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    return boto3.client("dynamodb", **kw), boto3.client("s3", **kw)


def _sigkill(home, emu):
    """What a crash does: no shutdown, no save; `make up` then finds a dead PID.
    The whole process group goes, the Lambda workers with the emulator."""
    os.killpg(emu.pid, signal.SIGKILL)
    os.waitpid(emu.pid, 0)
    assert emulator.running(home) is None


@pytest.mark.e2e
@pytest.mark.parametrize("journal_limit", ["5000", "3"], ids=["journal", "compacted"])
def test_acknowledged_writes_survive_sigkill(tmp_path, monkeypatch, journal_limit):
    """Issue 16 item 3: every write that was answered is there after a SIGKILL and a
    restart on the same state folder, also across journal compactions."""
    monkeypatch.setenv("MINISTACK_JOURNAL_LIMIT", journal_limit)
    home = str(tmp_path)
    emu = emulator.start(home)
    try:
        ddb, s3 = _clients(emu)
        ddb.create_table(TableName="events", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
        ddb.put_item(TableName="events", Item={"k": {"S": "put"}, "n": {"N": "1"}})
        for _ in range(3):  # not idempotent as a request: the journal keeps the result
            ddb.update_item(TableName="events", Key={"k": {"S": "put"}},
                            UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})
        ddb.batch_write_item(RequestItems={"events": [
            {"PutRequest": {"Item": {"k": {"S": f"batch-{i}"}}}} for i in range(5)]})
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "events", "Item": {"k": {"S": "tx"}}}},
            {"Update": {"TableName": "events", "Key": {"k": {"S": "batch-0"}},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "x"}}}},
            {"Delete": {"TableName": "events", "Key": {"k": {"S": "batch-1"}}}}])
        ddb.delete_item(TableName="events", Key={"k": {"S": "batch-2"}})
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="data.csv", Body=b"USER_ID,ITEM_ID\n1,2\n")
        _sigkill(home, emu)

        emu = emulator.start(home, port=emu.port)
        ddb, s3 = _clients(emu)
        items = {i["k"]["S"]: i for i in ddb.scan(TableName="events", ConsistentRead=True)["Items"]}
        assert sorted(items) == ["batch-0", "batch-3", "batch-4", "put", "tx"]
        assert items["put"]["n"] == {"N": "4"}
        assert items["batch-0"]["v"] == {"S": "x"}
        assert s3.get_object(Bucket="kept", Key="data.csv")["Body"].read() == \
            b"USER_ID,ITEM_ID\n1,2\n"
        # The restored state takes writes and survives a second kill.
        ddb.put_item(TableName="events", Item={"k": {"S": "after"}})
        _sigkill(home, emu)
        emu = emulator.start(home, port=emu.port)
        ddb, _ = _clients(emu)
        assert ddb.get_item(TableName="events", Key={"k": {"S": "after"}}, ConsistentRead=True)["Item"]
    finally:
        emulator.stop(home)


_KILLED_SAVE = """
import os, signal, sys
from ministack.core import persistence
sys.path.insert(0, {root!r})
from scripts import ministack_durable
state = persistence.load_state("dynamodb")
state["tables"].set_scoped("000000000000", "us-east-1", "not-saved", {{"TableName": "x"}})
real_write, real_replace = os.write, os.replace
def half_write(fd, data):
    real_write(fd, bytes(data[:len(data) // 2]))
    os.kill(os.getpid(), signal.SIGKILL)
def kill_before_replace(src, dst):
    os.kill(os.getpid(), signal.SIGKILL)
if {point!r} == "half-written":
    os.write = half_write
else:
    os.replace = kill_before_replace
ministack_durable.save_snapshot(persistence.STATE_DIR, "dynamodb", state)
"""


@pytest.mark.e2e
@pytest.mark.parametrize("point", ["half-written", "before-replace"])
def test_save_killed_half_way_leaves_the_previous_state(tmp_path, point):
    """A save killed in the middle (temp file half written, or complete but not yet
    renamed) leaves the previous snapshot, which ministack loads and serves."""
    home = str(tmp_path)
    emu = emulator.start(home)
    try:
        ddb, _ = _clients(emu)
        ddb.create_table(TableName="kept", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
        ddb.put_item(TableName="kept", Item={"k": {"S": "v"}})
    finally:
        emulator.stop(home)  # a clean stop: everything in the snapshot, the journal empty
    state_dir = os.path.join(home, "state")
    with open(os.path.join(state_dir, "dynamodb.json"), "rb") as f:
        before = f.read()
    env = {**os.environ, "PERSIST_STATE": "1", "STATE_DIR": state_dir}
    killed = subprocess.run([sys.executable, "-c", _KILLED_SAVE.format(
        root=emulator.DURABLE_LAUNCHER.rsplit("/scripts/", 1)[0], point=point)], env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert [n for n in os.listdir(state_dir) if n.endswith(".durable-tmp")]  # the torn save
    with open(os.path.join(state_dir, "dynamodb.json"), "rb") as f:
        assert f.read() == before

    emu = emulator.start(home, port=emu.port)
    try:
        ddb, _ = _clients(emu)
        assert ddb.list_tables()["TableNames"] == ["kept"]
        assert ddb.get_item(TableName="kept", Key={"k": {"S": "v"}})["Item"] == {"k": {"S": "v"}}
        assert not [n for n in os.listdir(state_dir) if n.endswith(".durable-tmp")]
    finally:
        emulator.stop(home)


@pytest.mark.e2e
def test_dataset_group_created_before_a_sigkill_is_there_after_restart(tmp_path):
    """Issue 16, "Done when": a dataset group created just before a SIGKILL of the
    emulator is there after the restart (the stack deployed as `make up` does)."""
    home = str(tmp_path / "ministack")
    emu = emulator.start(home)
    try:
        record, _ = stack_cli.deploy_to_emulator(
            emu, stack_name="personalize-durable", record_path=str(tmp_path / "stack.json"),
            build_dir=str(tmp_path / "build"), root=package.snapshot(str(tmp_path / "source")),
            progress=lambda msg: None)
        keys = access.ensure_root(record["outputs"], emu.endpoint, "us-east-1")

        def personalize():
            return boto3.client("personalize", endpoint_url=record["personalize_endpoint"],
                                region_name="us-east-1", aws_access_key_id=keys[0],
                                aws_secret_access_key=keys[1])
        arn = personalize().create_dataset_group(name="made-before-the-crash")["datasetGroupArn"]
        _sigkill(home, emu)

        emu = emulator.start(home, port=emu.port)
        described = personalize().describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
        assert described["name"] == "made-before-the-crash"
        assert [g["datasetGroupArn"] for g in personalize().list_dataset_groups()["datasetGroups"]] \
            == [arn]
    finally:
        emulator.stop(home)
