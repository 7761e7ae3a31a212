"""A real headless Chromium driven over chromedriver's W3C WebDriver HTTP API (urllib only).

`ensure_chromium()` installs Debian's `chromium` and `chromium-driver` when they are
missing (apt-get, as root); `Browser` starts chromedriver on a free port, opens one
session with a fresh profile, and stops chromedriver by its PID (Chromium is its child
and ends with the session). Used by tests/e2e/test_console.py and bench/console_pages.py.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1100,1300"]
PACKAGES = ("chromium", "chromium-driver")


def ensure_chromium():
    """(chromium, chromedriver) paths, installing the Debian packages if needed; None and a
    reason when that is impossible here (no apt-get, not root)."""
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if all(found):
        return found, None
    if not shutil.which("apt-get"):
        return None, "chromium/chromedriver are missing and apt-get is unavailable"
    if os.geteuid() != 0:
        return None, "chromium/chromedriver are missing and installing them needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"{' '.join(cmd)} failed: {done.stderr[-500:]}"
    found = shutil.which("chromium"), shutil.which("chromedriver")
    return (found, None) if all(found) else (None, "apt-get installed no chromium/chromedriver")


class WebDriverError(RuntimeError):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One Chromium session. `find`/`click`/`type` take CSS selectors; `wait` polls a
    JavaScript expression until it is truthy."""

    def __init__(self, chromium, chromedriver, timeout=30):
        self.timeout = timeout
        self.port = _free_port()
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self.log = open(os.path.join(self.profile, "chromedriver.log"), "w")
        self.driver = subprocess.Popen([chromedriver, f"--port={self.port}"],
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = None
        try:
            self._wait_ready()
            caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
                "binary": chromium, "args": FLAGS + [f"--user-data-dir={self.profile}/data"]}}}}
            self.session = self._call("POST", "/session", caps)["sessionId"]
        except Exception:
            self.close()
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self._call("GET", "/status", session=False).get("ready"):
                    return
            except (OSError, WebDriverError):
                pass
            time.sleep(0.1)
        raise WebDriverError("chromedriver did not become ready")

    def _call(self, method, path, body=None, session=True):
        url = self.base + (f"/session/{self.session}" if session and self.session else "") + path
        data = json.dumps(body).encode() if body is not None else (b"{}" if method == "POST" else None)
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value") or {}
        except urllib.error.HTTPError as e:
            detail = json.loads(e.read() or b"{}").get("value", {})
            raise WebDriverError(f"{method} {path}: {detail.get('error')}: "
                                 f"{(detail.get('message') or '')[:300]}") from None

    # -- the calls the tests make ---------------------------------------------------------
    def get(self, url):
        self._call("POST", "/url", {"url": url})

    def js(self, script, *args):
        """Run `script` (a function body; `arguments` are `args`) and return its value."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait(self, expression, timeout=None, what=None):
        """Poll the JavaScript `expression` until truthy; its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = self._call("POST", "/execute/sync", {"script": f"return ({expression});", "args": []})
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or expression}; page: "
                                     f"{self.text('body')[:2000]}; last error: "
                                     f"{self.js('return document.body.dataset.lastError')}")
            time.sleep(0.25)

    def find(self, css):
        found = self._call("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def click(self, css):
        self.wait(f"document.querySelector({json.dumps(css)}) && "
                  f"!document.querySelector({json.dumps(css)}).disabled", what=css)
        self._call("POST", f"/element/{self.find(css)}/click")

    def type(self, css, text):
        element = self.find(css)
        self._call("POST", f"/element/{element}/clear")
        self._call("POST", f"/element/{element}/value", {"text": text})

    def cdp(self, command, params=None):
        """A Chrome DevTools Protocol command through chromedriver (e.g. Network.clearBrowserCache)."""
        return self._call("POST", "/goog/cdp/execute", {"cmd": command, "params": params or {}})

    def choose_file(self, css, path):
        """Pick a local file in an <input type=file> (as a user's file chooser)."""
        self._call("POST", f"/element/{self.find(css)}/value", {"text": path})

    def set_value(self, css, value):
        """Set an input/select/textarea's value and fire its change event (as a user's pick)."""
        self._call("POST", "/execute/sync", {"script": (
            "const e = document.querySelector(arguments[0]); e.value = arguments[1];"
            "e.dispatchEvent(new Event('change')); return e.value;"), "args": [css, value]})

    def text(self, css):
        return self._call("POST", "/execute/sync", {"script": (
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';"),
            "args": [css]}) or ""

    def screenshot(self, css, path):
        """A PNG of the element matched by `css` (smaller than the whole window)."""
        png = base64.b64decode(self._call("GET", f"/element/{self.find(css)}/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def close(self):
        try:
            if self.session:
                self._call("DELETE", "")
        except (OSError, WebDriverError):
            pass
        finally:
            self.session = None
            if self.driver.poll() is None:
                self.driver.terminate()
                try:
                    self.driver.wait(10)
                except subprocess.TimeoutExpired:
                    self.driver.kill()
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
