"""Lazily built boto3 clients, one per service per process.

A Lambda container reuses them across invocations (Chalice's advice); the
region comes from `chalicelib.config`, the endpoint from the environment
(`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), never from code.
"""
import threading

import boto3
from botocore.config import Config

from chalicelib import config

_clients = {}
_lock = threading.Lock()

# Standard retries absorb throttling on a busy emulator or account; the request
# handlers stay simple.
_BOTO_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"})


def client(name):
    """The process-wide boto3 client for service `name` ("dynamodb", "s3", "events")."""
    found = _clients.get(name)
    if found is None:
        with _lock:
            found = _clients.get(name)
            if found is None:
                found = boto3.client(name, region_name=config.region(), config=_BOTO_CONFIG)
                _clients[name] = found
    return found


def reset_clients():
    """Forget every cached client (tests: a new moto mock, new environment)."""
    with _lock:
        _clients.clear()
