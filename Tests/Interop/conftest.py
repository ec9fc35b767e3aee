"""Starts real `sightline serve` processes on 127.0.0.1 for the interop checks.

SQLite servers get a fresh DATA_DIR; PostgreSQL servers (when TEST_DATABASE_URL is set
by scripts/with-postgres.sh) get a fresh database on the throw-away cluster.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.path.join(ROOT, ".build", "debug", "sightline")
PG_URL = os.environ.get("TEST_DATABASE_URL")
# PostgreSQL and the S3 server of scripts/with-s3.sh: test_cluster.py runs nginx and two nodes.
CLUSTER = bool(PG_URL and os.environ.get("TEST_S3_ENDPOINT"))
ADMIN_PASSWORD = "interop-admin-password"


def machine_pins():
    """scripts/machine-pins.env: what servers in tests pin so results do not depend on the machine."""
    with open(os.path.join(ROOT, "scripts", "machine-pins.env")) as f:
        pins = dict(line.strip().split("=", 1) for line in f if line.strip() and not line.startswith("#"))
    try:
        with open("/proc/cpuinfo") as f:
            avx2 = " avx2 " in f.read().replace("\n", " ")
    except OSError:
        avx2 = False
    if not avx2:
        pins.pop("OPENBLAS_CORETYPE", None)  # it forces a kernel the CPU may lack
    return pins


MACHINE_PINS = machine_pins()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fresh_postgres_database():
    """A new empty database on the test cluster; returns its URL."""
    u = urllib.parse.urlparse(PG_URL)
    name = "sl_" + uuid.uuid4().hex[:12]
    bindir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    createdb = f"/usr/lib/postgresql/{bindir}/bin/createdb"
    subprocess.run([createdb, "-h", u.hostname, "-p", str(u.port), "-U", u.username or "postgres", name], check=True)
    return urllib.parse.urlunparse(u._replace(path="/" + name))


class Server:
    def __init__(self, database_url=None, data_dir=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="sightline-interop-")
        self.database_url = database_url
        self.log_path = os.path.join(self.data_dir, f"server-{self.port}.log")
        self.env = dict(os.environ, DATA_DIR=self.data_dir, SIGHTLINE_CONFIG_DIR=os.path.join(ROOT, "config"),
                        PUBLIC_URL=self.url, LOG_LEVEL="debug", DATABASE_URL=database_url or "")
        for name, value in MACHINE_PINS.items():
            self.env.setdefault(name, value)
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BINARY, "serve", "--hostname", "127.0.0.1", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + open(self.log_path).read()[-3000:])
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def create_admin(self, email="admin@example.com"):
        out = subprocess.run([BINARY, "create-admin", "--email", email], cwd=ROOT, capture_output=True, text=True,
                             env=dict(self.env, SIGHTLINE_ADMIN_PASSWORD=ADMIN_PASSWORD), timeout=120, check=True)
        token = out.stdout.strip().splitlines()[-1]
        assert re.fullmatch(r"sla_[0-9a-f]{64}", token), out.stdout
        return token

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def backends():
    """PostgreSQL, the production database, where `scripts/with-postgres.sh` started one;
    SQLite otherwise. Checks whose point is SQLite ask for `sqlite_server`."""
    return ["postgresql"] if PG_URL else ["sqlite"]


def serve(backend, **env):
    db = fresh_postgres_database() if backend == "postgresql" else None
    s = Server(database_url=db)
    s.env.update(env)
    s.start()
    yield s
    s.stop()
    shutil.rmtree(s.data_dir, ignore_errors=True)


@pytest.fixture(params=backends())
def server(request):
    yield from serve(request.param)


@pytest.fixture(params=["sqlite"])
def sqlite_server(request):
    """The embedded default a first `make run` gets."""
    yield from serve(request.param)


# Object detection trainings whose detector only has to answer (not to find anything) stop
# after this many view passes; the engine's schedule aims for 6,400. Too few for a detector
# that finds objects: the export checks train in full.
ANSWERING_DETECTOR_SAMPLES = "256"


@pytest.fixture(params=["sqlite"])
def export_server(request):
    """The export checks are about the model files, which no database touches: SQLite
    (export jobs on PostgreSQL are covered by AppTests.ExportTests)."""
    yield from serve(request.param)


def admin_api(server, token, method, path, **kw):
    return requests.request(method, f"{server.url}/admin/api/{path}", headers={"Authorization": f"Bearer {token}"},
                            timeout=30, **kw)


def make_account(server, token, email, tier="S0", name="interop", training_rate_limited=False):
    """An account on `tier`. These checks call the Training API faster than a tier's
    training rate (10 per second, as Azure) allows, and the SDK does not retry a 429: the
    account's training rate is lifted unless `training_rate_limited`."""
    r = admin_api(server, token, "POST", "users", json={"email": email, "password": "password-123"})
    assert r.status_code in (201, 409), r.text
    r = admin_api(server, token, "POST", "accounts", json={"ownerEmail": email, "name": name, "tier": tier})
    assert r.status_code == 201, r.text
    account = r.json()
    if not training_rate_limited:
        lifted = admin_api(server, token, "PUT", f"accounts/{account['id']}/overrides", json={"trainingTransactionsPerSecond": "unlimited"})
        assert lifted.ok, lifted.text
    return account
