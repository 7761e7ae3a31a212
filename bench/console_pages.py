"""Load time of each web console page (issue 17: "every page loads in under 1 s on the
emulator with 100 resources listed"), in a real headless Chromium on the deployed stack.

    .venv/bin/python bench/console_pages.py [--groups 100] [--repeat 5]

A fresh ministack in a temporary folder, the stack deployed as `make up` deploys it, the root
principal's keys; then `--groups` dataset groups, and in one of them a dataset, an import from
S3, an aws-popularity-count solution version and a campaign (boto3, the same public API).
Rows, one per page (hash route):

- first load   the document (Navigation Timing: loadEventEnd) and then the dataset groups page
               rendered with every group listed (from navigation start), in the fresh browser
               and on a reload;
- each page    the page rendered again `--repeat` times (history.replaceState + render(): the
               page's signed API calls and its DOM), median and max in ms, and the API calls it
               made (Resource Timing entries).

Nothing is asserted; the table is printed.
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


def measure(browser, stack, world, repeat):
    url = stack_cli.console_url(stack.personalize_endpoint)
    browser.get(url)
    browser.js("sessionStorage.setItem('personalize-console-keys', JSON.stringify("
               "{accessKey: arguments[0], secret: arguments[1], region: arguments[2]}))",
               stack.keys[0], stack.keys[1], REGION)
    first = []
    for k in range(2):  # a fresh browser's first navigation, then a reload
        browser.js("location.reload()") if k else browser.get(url + "#/")
        time.sleep(0.2)
        browser.wait("document.getElementById('view').dataset.loaded")
        first.append(browser.js("const n = performance.getEntriesByType('navigation')[0];"
                                "return [n.loadEventEnd, performance.now()];"))
    listed = browser.js("return document.querySelectorAll('#groups tbody tr').length")
    rows = []
    for name, route in pages(world):
        times, calls, error = [], 0, ""
        for _ in range(repeat):
            ms, calls, error = browser.js(RENDER, route)
            times.append(ms)
        rows.append((name, statistics.median(times), max(times), calls, error))
    return first, listed, rows


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
            first, listed, rows = measure(browser, stack, world, args.repeat)
    finally:
        emulator.stop(home)
    print(f"\nConsole pages on ministack, {listed} dataset groups listed, headless Chromium "
          f"({args.repeat} renders per page)\n")
    for label, (load_end, groups_at) in zip(("first load (fresh browser)", "reload"), first):
        print(f"{label}: document {load_end:.0f} ms, dataset groups page rendered at "
              f"{groups_at:.0f} ms from navigation start")
    print()
    print(f"| {'page':30s} | median ms | max ms | API calls |")
    print(f"|{'-' * 32}|-----------|--------|-----------|")
    for name, median, worst, calls, error in rows:
        print(f"| {name:30s} | {median:9.0f} | {worst:6.0f} | {calls:9d} |" + (f" error: {error}" if error else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
