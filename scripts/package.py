"""Build the one deployable package: `chalice package --merge-template template.yaml`.

The same application code and template go to every target; what differs is
which interpreter runs the functions, hence which binary wheels ride along:

- ministack runs a Python Lambda in its own interpreter, the project venv,
  which already holds the pinned requirements (requirements.txt +
  constraints.txt). The zip carries only app.py and chalicelib/.
- LocalStack and AWS run the functions in Lambda's Python 3.12 runtime
  (Amazon Linux 2023). numpy 2.4 and scipy 1.17 ship manylinux_2_28 wheels
  only, which Lambda's python3.11 runtime (glibc 2.26) cannot load, so these
  targets declare python3.12 and bundle the cp312 wheels under vendor/.

chalice reads `requirements.txt` from the project directory and would try to
build scipy from source for the Lambda platform; packaging therefore runs in
a staging copy (build/stage/<target>/) whose requirements.txt is empty and
whose vendor/ holds the wheels pip installed for the target platform.

After chalice, `finish_template` inlines each state machine's ASL file (named
by `DefinitionS3Location`, the notation `aws cloudformation package` uses) as
`Definition`, and leaves out a machine whose file does not exist yet.
"""
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")

# What goes into the Lambda zip, and what a deployment depends on.
APP_SOURCES = ("app.py", "chalicelib", ".chalice/config.json")
DEPLOY_INPUTS = APP_SOURCES + ("template.yaml", "infrastructure/statemachines",
                               "requirements.txt", "constraints.txt")
CHALICE_STAGE = "dev"

# target -> Lambda runtime to declare and bundle wheels for (None: use the
# packaging interpreter's version and bundle nothing).
TARGETS = {
    "ministack": None,
    "localstack": "3.12",
    "aws": "3.12",
}
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
STRIPPED = ("numpy", "scipy")  # packages whose `tests` folders are left out
# requirements with no binary wheel for the Lambda platform (built from source into the venv):
# left out of the Lambda packages; the code runs without them (hnswlib: exact scoring)
SOURCE_ONLY = ("hnswlib",)


class PackageError(RuntimeError):
    pass


@dataclass
class Package:
    target: str
    directory: str
    template: dict
    code_path: str
    digest: str
    skipped_workflows: list = field(default_factory=list)

    @property
    def template_path(self):
        return os.path.join(self.directory, "template.json")


def _files(root, rel):
    path = os.path.join(root, rel)
    if os.path.isfile(path):
        yield rel
        return
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "deployments"))
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                yield os.path.relpath(os.path.join(dirpath, name), root)


def source_digest(target, root=ROOT):
    """A hash of everything a deployment is built from; equal hash, equal stack."""
    h = hashlib.sha256(f"target={target}\n".encode())
    for rel in DEPLOY_INPUTS:
        for f in _files(root, rel):
            h.update(f.encode() + b"\0")
            with open(os.path.join(root, f), "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def snapshot(dest, root=ROOT):
    """Copy the deployment inputs to `dest` (a consistent tree to package from,
    e.g. while files are being edited); returns `dest`."""
    for rel in DEPLOY_INPUTS:
        for f in _files(root, rel):
            os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
            shutil.copy2(os.path.join(root, f), os.path.join(dest, f))
    return dest


def _stage(target, root, build):
    stage = os.path.join(build, "stage", target)
    os.makedirs(os.path.join(stage, ".chalice"), exist_ok=True)
    for rel in ("app.py", "chalicelib", "vendor"):
        path = os.path.join(stage, rel)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    shutil.copy2(os.path.join(root, "app.py"), stage)
    shutil.copytree(os.path.join(root, "chalicelib"), os.path.join(stage, "chalicelib"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(os.path.join(root, ".chalice", "config.json"),
                 os.path.join(stage, ".chalice", "config.json"))
    with open(os.path.join(stage, "requirements.txt"), "w") as f:
        f.write("# dependencies are bundled under vendor/ (scripts/package.py)\n")
    return stage


def _binary_requirements(root, target_dir):
    """requirements.txt less SOURCE_ONLY, as a file beside the target (pip's -r)."""
    with open(os.path.join(root, "requirements.txt")) as f:
        kept = [line for line in f if line.split("==")[0].strip().lower() not in SOURCE_ONLY]
    os.makedirs(os.path.dirname(target_dir), exist_ok=True)
    path = target_dir + ".requirements.txt"
    with open(path, "w") as f:
        f.writelines(kept)
    return path


def vendor_wheels(python_version, root=ROOT, build=BUILD):
    """Install the pinned requirements as Lambda-platform wheels; cached by inputs."""
    h = hashlib.sha256(f"{python_version} {WHEEL_PLATFORM} {STRIPPED}".encode())
    for rel in ("requirements.txt", "constraints.txt"):
        with open(os.path.join(root, rel), "rb") as f:
            h.update(f.read())
    target_dir = os.path.join(build, "vendor", h.hexdigest()[:16])
    if os.path.isdir(target_dir) and os.path.exists(os.path.join(target_dir, ".complete")):
        return target_dir
    shutil.rmtree(target_dir, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", target_dir,
           "--platform", WHEEL_PLATFORM, "--implementation", "cp",
           "--python-version", python_version, "--only-binary=:all:",
           "-r", _binary_requirements(root, target_dir),
           "-c", os.path.join(root, "constraints.txt")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise PackageError("could not fetch Lambda wheels:\n" + done.stderr[-2000:])
    # Bytecode, console scripts and the numpy/scipy test suites (25 MB) are
    # of no use in a Lambda, whose code must stay under 250 MB unzipped.
    for dirpath, dirnames, _ in os.walk(target_dir):
        rel = os.path.relpath(dirpath, target_dir).split(os.sep)
        for d in list(dirnames):
            if d == "__pycache__" or (d == "tests" and rel[0] in STRIPPED):
                shutil.rmtree(os.path.join(dirpath, d))
                dirnames.remove(d)
    shutil.rmtree(os.path.join(target_dir, "bin"), ignore_errors=True)
    open(os.path.join(target_dir, ".complete"), "w").close()
    return target_dir


def _chalice():
    exe = os.path.join(os.path.dirname(sys.executable), "chalice")
    if not os.path.exists(exe):
        raise PackageError(f"chalice is not installed next to {sys.executable}; run `make venv`")
    return exe


def build(target="ministack", root=ROOT, build_dir=BUILD, region="us-east-1"):
    """Stage, `chalice package --merge-template template.yaml`, finish the template."""
    if target not in TARGETS:
        raise PackageError(f"unknown target {target!r}; one of {sorted(TARGETS)}")
    digest = source_digest(target, root)
    stage = _stage(target, root, build_dir)
    runtime = TARGETS[target]
    if runtime:
        shutil.copytree(vendor_wheels(runtime, root, build_dir), os.path.join(stage, "vendor"),
                        ignore=shutil.ignore_patterns(".complete"))
    out = os.path.join(build_dir, "package", target)
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", region)}
    done = subprocess.run(
        [_chalice(), "package", "--stage", CHALICE_STAGE,
         "--merge-template", os.path.join(root, "template.yaml"), out],
        cwd=stage, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise PackageError("chalice package failed:\n" + (done.stderr or done.stdout)[-3000:])
    template = _load_chalice_template(out)
    template, skipped = finish_template(template, root,
                                        runtime=f"python{runtime}" if runtime else None)
    pkg = Package(target=target, directory=out, template=template,
                  code_path=os.path.join(out, "deployment.zip"), digest=digest,
                  skipped_workflows=skipped)
    with open(pkg.template_path, "w") as f:
        json.dump(template, f, indent=1, sort_keys=True)
    return pkg


def _load_chalice_template(out):
    # chalice writes YAML (long-form intrinsics) when the merged template is YAML.
    for name in ("sam.json", "sam.yaml"):
        path = os.path.join(out, name)
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f) if name.endswith(".json") else yaml.safe_load(f)
    raise PackageError(f"chalice wrote no template into {out}")


def workflow_variable(workflow):
    """`import` -> IMPORT_STATE_MACHINE_ARN (chalicelib.config.state_machine_arn)."""
    return f"{workflow.upper().replace('-', '_')}_STATE_MACHINE_ARN"


def finish_template(template, root=ROOT, runtime=None):
    """Inline ASL files; drop machines whose file is missing. Returns (template, skipped)."""
    template = copy.deepcopy(template)
    resources = template["Resources"]
    skipped = []
    for logical_id, res in list(resources.items()):
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function" and runtime:
            props["Runtime"] = runtime
        if res.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        location = props.get("DefinitionS3Location")
        if not isinstance(location, str):
            continue  # already an S3 object reference
        path = os.path.join(root, location)
        if os.path.exists(path):
            with open(path) as f:
                props["Definition"] = json.load(f)
            del props["DefinitionS3Location"]
            continue
        workflow = res.get("Metadata", {}).get("Workflow", logical_id)
        skipped.append(workflow)
        del resources[logical_id]
        # Its ARN variable goes too, so the service sees "no such workflow"
        # (config.state_machine_arn -> None) rather than a dangling ARN.
        for other in resources.values():
            env = other.get("Properties", {}).get("Environment", {}).get("Variables")
            if isinstance(env, dict):
                env.pop(workflow_variable(workflow), None)
    return template, skipped
