"""Hardening checks against a real server process: inputs that once killed it, stored
script in names, and a lost database."""
import os
import re
import subprocess
import urllib.parse

import pytest
import requests

from conftest import PG_URL, Server, fresh_postgres_database, make_account
from selenium.webdriver.support.ui import WebDriverWait

from test_portal_chromium import browser, submit_credentials  # noqa: F401 (fixture)

PAYLOAD = '"><script>window.pwned=1</script><img src=x onerror="window.pwned=2"> \' onmouseover=\'window.pwned=3'


def portal_session(server, email, password="password-123"):
    """A requests session signed in through the portal's own form (CSRF cookie and field)."""
    s = requests.Session()
    page = s.get(server.url + "/signin", timeout=30).text
    csrf = re.search(r'name="_csrf" value="([0-9a-f]+)"', page).group(1)
    r = s.post(server.url + "/signin", data={"email": email, "password": password, "_csrf": csrf}, timeout=30,
               allow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return s


def test_crash_inputs_leave_the_server_answering(server):
    token = server.create_admin()
    acct = make_account(server, token, "crash@example.com")
    headers = {"Training-Key": acct["trainingKeys"][0]}
    api = f"{server.url}/customvision/v3.4-preview/training"
    project = requests.post(f"{api}/projects?name=crash", headers=headers, timeout=30).json()["id"]
    for continuation in ["-5", "-9223372036854775808", "99999999999999999999999", "x"]:
        r = requests.post(f"{api}/projects/{project}/predictions/query", headers=headers,
                          json={"continuation": continuation}, timeout=30)
        assert r.status_code == 400 and r.json()["code"] == "BadRequestPredictionInvalidQueryParameters", r.text
    deep = "(" * 5000 + "a eq 'b'" + ")" * 5000  # URL-encoded, about 30 KB: within the URL limit
    r = requests.get(f"{api}/projects/{project}/images", params={"$filter": deep}, headers=headers, timeout=30)
    assert r.status_code == 400 and r.json()["code"] == "BadRequest"
    for take, skip in [("-1", "0"), ("9223372036854775807", "9223372036854775807"), ("1e9", "-1")]:
        r = requests.get(f"{api}/projects/{project}/images", params={"take": take, "skip": skip}, headers=headers, timeout=30)
        assert r.status_code == 400, r.text
    s = portal_session(server, "crash@example.com")
    r = s.get(f"{server.url}/accounts/{acct['id']}/projects/{project}?page=9223372036854775807", timeout=30)
    assert r.status_code == 200 and "Page 1 of 1" in r.text
    # A million empty multipart parts stop at the 65th.
    body = b"--b\r\n\r\n\r\n" * 1_000_000 + b"--b--\r\n"
    r = requests.post(f"{api}/projects/{project}/images", data=body, timeout=120,
                      headers=dict(headers, **{"Content-Type": "multipart/form-data; boundary=b"}))
    assert r.status_code == 400 and r.json()["code"] == "BadRequestImageBatch", r.text
    assert server.proc.poll() is None, "the process is still running"
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200


def test_a_script_in_a_project_name_renders_as_text_and_runs_nothing(server, browser):  # noqa: F811
    token = server.create_admin()
    acct = make_account(server, token, "owner@example.com")
    headers = {"Training-Key": acct["trainingKeys"][0]}
    api = f"{server.url}/customvision/v3.4-preview/training"
    r = requests.post(f"{api}/projects", params={"name": PAYLOAD, "description": PAYLOAD}, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    project = r.json()["id"]
    requests.post(f"{api}/projects/{project}/tags", params={"name": PAYLOAD[:200]}, headers=headers, timeout=30)
    b = browser
    b.get(server.url + "/signin")
    submit_credentials(b, "owner@example.com", "password-123")
    for path in [f"/accounts/{acct['id']}", f"/accounts/{acct['id']}/projects/{project}"]:
        b.get(server.url + path)
        WebDriverWait(b, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        b.execute_script("document.querySelectorAll('*').forEach(e => e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})))")
        assert b.execute_script("return window.pwned") is None, path
    assert b.find_element("tag name", "h1").text == PAYLOAD
    assert b.title == f"Training images · {PAYLOAD} · Sightline", b.title
    assert not b.find_elements("css selector", "img[src='x']")
    r = requests.get(server.url + "/signin", timeout=10)
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"


@pytest.mark.skipif(not PG_URL, reason="needs the PostgreSQL cluster from scripts/with-postgres.sh")
def test_a_lost_database_answers_503_and_readyz_says_so():
    db = fresh_postgres_database()
    s = Server(database_url=db).start()
    try:
        token = s.create_admin()
        acct = make_account(s, token, "lost@example.com")
        headers = {"Training-Key": acct["trainingKeys"][0]}
        u = urllib.parse.urlparse(db)
        bindir = sorted(os.listdir("/usr/lib/postgresql"))[-1]
        subprocess.run([f"/usr/lib/postgresql/{bindir}/bin/dropdb", "--force", "-h", u.hostname, "-p", str(u.port),
                        "-U", u.username or "postgres", u.path.lstrip("/")], check=True)
        r = requests.post(f"{s.url}/customvision/v3.4-preview/training/projects?name=x", headers=headers, timeout=60)
        assert r.status_code == 503, (r.status_code, r.text)
        assert r.json()["code"] == "ErrorUnknown" and "Retry-After" in r.headers
        assert requests.get(s.url + "/readyz", timeout=30).status_code == 503
        assert requests.get(s.url + "/healthz", timeout=10).status_code == 200
        assert s.proc.poll() is None
    finally:
        s.stop()
