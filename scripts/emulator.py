"""The embedded emulator: ministack on 127.0.0.1, started and stopped by PID.

ministack (MIT, pure Python) serves S3, DynamoDB, Lambda, IAM, Step Functions,
EventBridge, API Gateway and CloudFormation on one port. It runs a Python
Lambda as a long-lived subprocess of *its own* interpreter (the project venv)
with the unpacked deployment zip first on `sys.path`, so the functions see the
pinned requirements of `.venv` without bundling binary wheels.

State survives a restart when `persist=True`: each service's state goes to
`STATE_DIR` and S3 objects to `S3_DATA_DIR`. With `durable=True` (the default)
ministack runs under scripts/ministack_durable.py, which makes every
acknowledged write durable before its response leaves, so even a SIGKILL loses
nothing acknowledged; with `durable=False` it is plain `python -m ministack`,
which saves only during a graceful shutdown. `stop` sends SIGINT and waits
either way, so the final save runs.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

# The services the stack uses; a smaller set imports less and starts faster.
SERVICES = "s3,dynamodb,lambda,iam,sts,stepfunctions,events,apigateway,cloudformation,logs,kms"
PID_FILE = "ministack.json"
DURABLE_LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ministack_durable.py")


class EmulatorError(RuntimeError):
    """The emulator cannot be started, reached or stopped; the message says why."""


@dataclass
class Emulator:
    pid: int
    port: int
    home: str

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self):
        return os.path.join(self.home, "ministack.log")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def healthy(port, timeout=2.0):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ministack/health",
                                    timeout=timeout) as r:
            return r.status == 200 and "services" in json.loads(r.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours has exited already
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def _is_ministack(pid):
    """Guard against a recycled PID: only ever signal our own ministack."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"ministack" in f.read()
    except OSError:
        return False


def check_installed(python=sys.executable):
    """Raise EmulatorError unless ministack and the SAM translator import."""
    probe = subprocess.run(
        [python, "-c", "import ministack.app, samtranslator"],
        capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        raise EmulatorError(
            f"ministack is not usable from {python} ({last}). "
            "Install the pinned packages with `make venv` "
            "(requirements-dev.txt pins ministack[full]==1.5.33).")


def _environment(port, home, region, persist):
    # Lambda workers inherit this environment, so drop the caller's AWS
    # settings: a function must reach this emulator, not the user's account.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PERSONALIZE_", "LOCALSTACK_"))}
    env.update({
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "MINISTACK_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "SERVICES": SERVICES,
        # Listeners the stack does not use; they would also take fixed ports.
        "SFTP_ENABLED": "0",
        "IOT_MTLS_ENABLED": "0",
        "LOG_LEVEL": env.get("MINISTACK_LOG_LEVEL", "INFO"),
        "PYTHONUNBUFFERED": "1",
    })
    if persist:
        env.update({
            "PERSIST_STATE": "1",
            "STATE_DIR": os.path.join(home, "state"),
            "S3_PERSIST": "1",
            "S3_DATA_DIR": os.path.join(home, "s3"),
        })
    return env


def start(home, port=None, region="us-east-1", persist=True, timeout=90.0, durable=True):
    """Start ministack in the background and wait until it answers.

    `home` holds the PID file, the log and (with `persist`) the state; `durable`
    (with `persist`) saves each acknowledged write at once, not at shutdown. Returns
    an Emulator; raises EmulatorError with the reason when it cannot start.
    """
    os.makedirs(home, exist_ok=True)
    port = port or free_port()
    if port_taken(port):
        raise EmulatorError(
            f"127.0.0.1:{port} is already in use by another process; "
            f"stop it or choose another port (MINISTACK_PORT=<port>).")
    check_installed()
    emu_log = os.path.join(home, "ministack.log")
    # Both command lines name ministack: `_is_ministack` checks that before signalling.
    command = [sys.executable, DURABLE_LAUNCHER] if persist and durable else \
        [sys.executable, "-m", "ministack"]
    with open(emu_log, "ab") as log:
        proc = subprocess.Popen(
            command,
            env=_environment(port, home, region, persist), cwd=home,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # Ctrl-C in the terminal must not kill it
    emu = Emulator(pid=proc.pid, port=port, home=home)
    deadline = time.monotonic() + timeout
    while not healthy(port):
        if proc.poll() is not None:
            raise EmulatorError(
                f"ministack exited with code {proc.returncode} during start-up; "
                f"last lines of {emu_log}:\n{_tail(emu_log)}")
        if time.monotonic() > deadline:
            _signal_and_wait(proc.pid, 10.0)
            raise EmulatorError(f"ministack did not answer on port {port} within "
                                f"{timeout:.0f}s; see {emu_log}")
        time.sleep(0.2)
    with open(os.path.join(home, PID_FILE), "w") as f:
        json.dump({"pid": emu.pid, "port": port, "region": region}, f)
    return emu


def running(home):
    """The emulator recorded under `home` if it is alive and answering, else None."""
    try:
        with open(os.path.join(home, PID_FILE)) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    pid, port = rec["pid"], rec["port"]
    if not (_alive(pid) and _is_ministack(pid) and healthy(port)):
        return None
    return Emulator(pid=pid, port=port, home=home)


def stop(home, timeout=60.0):
    """Stop the emulator recorded under `home` (by PID) and let it save its state.

    Returns the stopped PID or None when nothing was running.
    """
    path = os.path.join(home, PID_FILE)
    try:
        with open(path) as f:
            pid = json.load(f)["pid"]
    except (OSError, ValueError, KeyError):
        return None
    stopped = None
    if _alive(pid) and _is_ministack(pid):
        _signal_and_wait(pid, timeout)
        stopped = pid
    os.remove(path)
    return stopped


def _signal_and_wait(pid, timeout):
    # SIGINT runs ministack's ASGI shutdown, which is where state is saved.
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        _reap(pid)
        time.sleep(0.1)
    _reap(pid)
    # Lambda workers are ministack's children in the session `start` created
    # (its group id is its PID); a clean shutdown ends them, a killed one not.
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""
