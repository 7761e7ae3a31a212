"""The deployed stack on the embedded emulator, once per test session.

`stack` starts ministack on a free port on 127.0.0.1 (no persistence, state
in a temporary folder), deploys the application with the same code as
`make up` (scripts.stack.deploy_to_emulator: chalice package
--merge-template template.yaml, then CloudFormation), and stops the emulator
by PID when the session ends, also after a failure.
"""
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import boto3
import botocore.session
import pytest

from scripts import access, emulator, package, stack as stack_cli

ROOT = stack_cli.ROOT
REGION = "us-east-1"


@dataclass
class DeployedStack:
    emulator: emulator.Emulator
    personalize_endpoint: str
    outputs: dict
    env: dict
    models: str
    record_path: str
    build_dir: str
    source: str
    deploy_seconds: float
    skipped_workflows: list
    keys: tuple = ("test", "test")

    def client(self, service, models=True, endpoint=None, keys=None):
        """A stock boto3 client for `service`; `models=True` adds the shipped
        models (AWS_DATA_PATH=build/models) as the README tells users to. The
        Personalize services sign with the root principal's keys (as `make up`
        writes them to .local/stack.env) unless `keys` are given; the emulator's
        own services take the deployer's test keys."""
        session = botocore.session.Session()
        if models:
            session.set_config_variable("data_path", self.models)
        if endpoint is None:
            endpoint = (self.personalize_endpoint if service.startswith("personalize")
                        else self.emulator.endpoint)
        if keys is None:
            keys = self.keys if service.startswith("personalize") else ("test", "test")
        return boto3.session.Session(botocore_session=session).client(
            service, endpoint_url=endpoint, region_name=REGION,
            aws_access_key_id=keys[0], aws_secret_access_key=keys[1])


def _models_dir(tmp_path_factory):
    built = os.path.join(ROOT, "build", "models")
    if os.path.isdir(os.path.join(built, "personalize")):
        return built
    out = str(tmp_path_factory.mktemp("models"))
    subprocess.run([sys.executable, "-m", "chalicelib.protocol.models", "--out", out],
                   cwd=ROOT, check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("ministack"))
    build_dir = str(tmp_path_factory.mktemp("build"))
    # Package a snapshot: the working tree may change while the session runs.
    source = package.snapshot(str(tmp_path_factory.mktemp("source")))
    record_path = os.path.join(home, "stack.json")
    models = _models_dir(tmp_path_factory)
    emu = emulator.start(home, region=REGION, persist=False)
    try:
        t0 = time.monotonic()
        record, _ = stack_cli.deploy_to_emulator(
            emu, stack_name="personalize-e2e", region=REGION, record_path=record_path,
            build_dir=build_dir, root=source, progress=lambda msg: None)
        seconds = time.monotonic() - t0
        root = access.ensure_root(record["outputs"], emu.endpoint, REGION)  # as `make up`
        env = stack_cli.client_environment(record["personalize_endpoint"], emu.endpoint,
                                           REGION, models=models, keys=root)
        yield DeployedStack(emulator=emu, personalize_endpoint=record["personalize_endpoint"],
                            outputs=record["outputs"], env=env, models=models,
                            record_path=record_path, build_dir=build_dir, source=source,
                            deploy_seconds=seconds,
                            skipped_workflows=record["skipped_workflows"], keys=root)
    finally:
        emulator.stop(home)


def pytest_collection_modifyitems(config, items):
    """Everything under tests/e2e is an end-to-end test (`make test-fast` leaves it out), marked
    or not."""
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here + os.sep):
            item.add_marker(pytest.mark.e2e)
