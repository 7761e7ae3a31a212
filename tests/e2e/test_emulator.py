"""Starting and stopping the embedded emulator: clear messages, state kept."""
import os
import socket
import subprocess
import sys

import boto3
import pytest

from scripts import emulator


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
