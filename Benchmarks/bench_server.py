"""A `sightline serve` (release; debug in a smoke run) on 127.0.0.1 with a fresh DATA_DIR (SQLite there, or
the PostgreSQL database given) and an admin token, shared by the service benchmarks."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import requests

from bench_mode import ROOT, SMOKE, binary

SERVER = binary("sightline")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class BenchServer:
    def __init__(self, prefix, database_url=""):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.data_dir = tempfile.mkdtemp(prefix=prefix)
        env = dict(os.environ, DATA_DIR=self.data_dir, PUBLIC_URL=self.url, SIGHTLINE_CONFIG_DIR=os.path.join(ROOT, "config"),
                   LOG_LEVEL="warning", DATABASE_URL=database_url, SIGHTLINE_ADMIN_PASSWORD="bench-password", ENGINE_WORKERS="1")
        if SMOKE:
            env["DETECTION_MAX_SAMPLES"] = "128"  # a smoke run's detector only has to exist
        self.token = subprocess.run([SERVER, "create-admin", "--email", "bench@example.com"], cwd=ROOT, env=env,
                                    capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        self.proc = subprocess.Popen([SERVER, "serve", "--hostname", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        self.admin = {"Authorization": f"Bearer {self.token}"}

    def account(self, email, name, overrides):
        """A user with an S0 account whose limits `overrides` lifts; a session with its Training key."""
        requests.post(f"{self.url}/admin/api/users", json={"email": email, "password": "password-123"},
                      headers=self.admin).raise_for_status()
        acct = requests.post(f"{self.url}/admin/api/accounts", json={"ownerEmail": email, "name": name, "tier": "S0"},
                             headers=self.admin).json()
        requests.put(f"{self.url}/admin/api/accounts/{acct['id']}/overrides", json=overrides,
                     headers=self.admin).raise_for_status()
        session = requests.Session()
        session.headers["Training-Key"] = acct["trainingKeys"][0]
        return session

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)
