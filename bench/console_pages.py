"""Load time of each web console page (issue 17: "every page loads in under 1 s on the
emulator with 100 resources listed"), in a real headless Chromium on the deployed stack.

    .venv/bin/python bench/console_pages.py [--groups 100] [--repeat 5]

A fresh ministack in a temporary folder, the stack deployed as `make up` deploys it, the root
principal's keys; then `--groups` dataset groups, and in one of them a dataset, an import from
S3, an aws-popularity-count solution version and a campaign (boto3, the same public API).
For each page (hash route), from navigation start to the page rendered (the console sets
`#view[data-loaded]` when a page's signed calls are answered and its DOM is built; a
MutationObserver installed before any script records the moment), median of `--repeat`:

- cold   the browser's HTTP cache cleared (DevTools Network.clearBrowserCache), the page's
         URL opened directly: the document, any asset it loads, the page's API calls;
- warm   the same URL reloaded with the cache kept (the document revalidated);
- render the page rendered again in place (history.replaceState + render(): its signed
         calls and its DOM, no document load).

Also per page: the HTTP requests of a cold load (document + assets + API calls), the most of
them in flight at once (on the emulator each is a Lambda invocation, and one that finds no
idle worker of the function starts a new worker process: a cold start), and the bytes of the
document. The first cold load of the first page is also shown alone: it meets the emulator
with the one warm worker the boto3 set-up left. Nothing is asserted; the table is printed.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scripts import access, emulator, stack as stack_cli  # noqa: E402
from tests.e2e import flows  # noqa: E402
from tests.e2e.conftest import DeployedStack  # noqa: E402
from tests.e2e.test_console import interactions_csv  # noqa: E402
from tests.support.browser import Browser, ensure_chromium  # noqa: E402

REGION = "us-east-1"


def build_world(stack, groups, progress):
    personalize = stack.client("personalize")
    t0 = time.monotonic()
    for k in range(groups - 1):
        personalize.create_dataset_group(name=f"bench-group-{k:03d}")
    progress(f"{groups - 1} dataset groups in {time.monotonic() - t0:.1f}s")
    group, _ = flows.import_interactions(stack, personalize, interactions_csv(), "bench")
    solution, version = flows.train(personalize, group, "aws-popularity-count", "bench")
    campaign = flows.campaign(personalize, version["solutionVersionArn"], "bench")
    progress("the trained group is ready")
    return {"group": group, "solution": solution, "campaign": campaign}


def pages(world):
    from urllib.parse import quote
    g, s, c = (quote(world[k], safe="") for k in ("group", "solution", "campaign"))
    return [("dataset groups", "#/"), ("dashboard", f"#/group/{g}"),
            ("schema + dataset", f"#/group/{g}/dataset"), ("import", f"#/group/{g}/import"),
            ("create solution", f"#/group/{g}/solution"), ("solution versions + metrics", f"#/solution/{s}"),
            ("create campaign", f"#/group/{g}/campaign"), ("test campaign results", f"#/campaign/{c}")]


RENDER = """
performance.clearResourceTimings();
history.replaceState(null, '', arguments[0]);
return render().then(() => [Number(document.getElementById('view').dataset.loaded),
  performance.getEntriesByType('resource').filter(e => e.initiatorType === 'fetch').length,
  document.querySelector('main .error') ? document.querySelector('main .error').innerText : '']);
"""

# runs before any script of each new document: the moment #view gets data-loaded
RENDERED_AT = """
window.__rendered = 0;
new MutationObserver(function (changes, observer) {
  var v = document.getElementById('view');
  if (v && v.dataset.loaded) { window.__rendered = performance.now(); observer.disconnect(); }
}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-loaded']});
"""

LOAD_FACTS = """
const nav = performance.getEntriesByType('navigation')[0];
const spans = [[nav.startTime, nav.responseEnd]].concat(performance.getEntriesByType('resource')
  .map(e => [e.startTime, e.responseEnd]));
let most = 0;
for (const [start] of spans) most = Math.max(most, spans.filter(([s, e]) => s <= start && e > start).length);
return [window.__rendered, spans.length, most, nav.decodedBodySize, nav.transferSize,
  document.querySelector('main .error') ? document.querySelector('main .error').innerText : ''];
"""


def load(browser, url, cold):
    """Open `url` (cache cleared first when `cold`); (ms to rendered, requests, most in flight,
    document bytes, transferred bytes, error)."""
    if cold:
        browser.cdp("Network.clearBrowserCache")
    browser.get("about:blank")
    browser.get(url)
    browser.wait("window.__rendered", timeout=60, what=f"{url} rendered")
    return browser.js(LOAD_FACTS)


def measure(browser, stack, world, repeat):
    url = stack_cli.console_url(stack.personalize_endpoint)
    browser.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": RENDERED_AT})
    browser.get(url)
    browser.js("sessionStorage.setItem('personalize-console-keys', JSON.stringify("
               "{accessKey: arguments[0], secret: arguments[1], region: arguments[2]}))",
               stack.keys[0], stack.keys[1], REGION)
    very_first = None
    rows = []
    for name, route in pages(world):
        cold = [load(browser, url + route, cold=True) for _ in range(repeat)]
        very_first = very_first or cold[0]
        warm = [load(browser, url + route, cold=False) for _ in range(repeat)]
        renders = [browser.js(RENDER, route) for _ in range(repeat)]
        rows.append({"page": name, "cold": statistics.median(c[0] for c in cold),
                     "warm": statistics.median(w[0] for w in warm),
                     "render": statistics.median(r[0] for r in renders),
                     "cold max": max(c[0] for c in cold), "requests": cold[-1][1],
                     "in flight": max(c[2] for c in cold), "doc bytes": cold[-1][3],
                     "api calls": renders[-1][1],
                     "error": cold[-1][5] or renders[-1][2]})
    browser.js("history.replaceState(null, '', '#/'); return render()")
    listed = browser.js("return document.querySelectorAll('#groups tbody tr').length")
    return very_first, listed, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    found, reason = ensure_chromium()
    if found is None:
        raise SystemExit(f"no headless Chromium: {reason}")
    progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    home = tempfile.mkdtemp(prefix="console-bench-")
    emu = emulator.start(home, region=REGION, persist=False)
    try:
        record, _ = stack_cli.deploy_to_emulator(emu, stack_name="console-bench", region=REGION,
                                                 record_path=os.path.join(home, "stack.json"),
                                                 build_dir=os.path.join(home, "build"),
                                                 progress=lambda msg: None)
        keys = access.ensure_root(record["outputs"], emu.endpoint, REGION)
        stack = DeployedStack(emulator=emu, personalize_endpoint=record["personalize_endpoint"],
                              outputs=record["outputs"], env={}, models=stack_cli.MODELS,
                              record_path="", build_dir="", source="", deploy_seconds=0,
                              skipped_workflows=[], keys=keys)
        world = build_world(stack, args.groups, progress)
        with Browser(*found) as browser:
            very_first, listed, rows = measure(browser, stack, world, args.repeat)
    finally:
        emulator.stop(home)
    print(f"\nConsole pages on ministack, {listed} dataset groups listed, headless Chromium, "
          f"median of {args.repeat} (ms from navigation start to the page rendered)\n")
    print(f"very first load (dataset groups page, one warm worker): {very_first[0]:.0f} ms, "
          f"{very_first[1]} requests, at most {very_first[2]} in flight\n")
    print(f"| {'page':28s} | cold ms | cold max | warm ms | render ms | requests (cold) | "
          f"most in flight | API calls | document bytes |")
    print(f"|{'-' * 30}|---------|----------|---------|-----------|-----------------|"
          f"----------------|-----------|----------------|")
    for r in rows:
        print(f"| {r['page']:28s} | {r['cold']:7.0f} | {r['cold max']:8.0f} | {r['warm']:7.0f} | "
              f"{r['render']:9.0f} | {r['requests']:15d} | {r['in flight']:14d} | "
              f"{r['api calls']:9d} | {r['doc bytes']:14d} |" + (f" error: {r['error']}" if r['error'] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
