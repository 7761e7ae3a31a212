"""Unknown resources are answered in the service's words from one place
(`ResourceNotFoundException.for_arn`, issue 12 item 5), not per module."""
import re
from pathlib import Path

from chalicelib.protocol.errors import ResourceNotFoundException

PACKAGE = Path(__file__).resolve().parents[2] / "chalicelib"


def test_the_services_wording():
    e = ResourceNotFoundException.for_arn("arn:aws:personalize:us-east-1:1:campaign/c")
    assert e.code == "ResourceNotFoundException"
    assert e.message == "Resource Arn arn:aws:personalize:us-east-1:1:campaign/c does not exist."


def test_no_module_words_its_own_not_found():
    own = re.compile(r"ResourceNotFoundException\(\s*f?[\"'](Could not find|No such|Unknown)")
    found = [f"{p.relative_to(PACKAGE)}: {m.group(0)}" for p in PACKAGE.rglob("*.py")
             for m in own.finditer(p.read_text(encoding="utf-8"))]
    assert found == [], "use ResourceNotFoundException.for_arn(arn):\n" + "\n".join(found)
