"""The interop checks' servers (Tests/Interop/conftest.py), loaded under another module
name so that this directory's conftest does not shadow it."""
import importlib.util
import os
import sys

_path = os.path.join(os.path.dirname(__file__), "..", "Interop", "conftest.py")
_spec = importlib.util.spec_from_file_location("interop_servers", _path)
interop_servers = importlib.util.module_from_spec(_spec)
sys.modules["interop_servers"] = interop_servers
_spec.loader.exec_module(interop_servers)

import shutil  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(params=interop_servers.backends())
def server(request):
    """A fresh server on SQLite, and on PostgreSQL when there is one, allowed to fetch from
    loopback (the v2 URL predictions fetch the server's own image links)."""
    db = interop_servers.fresh_postgres_database() if request.param == "postgresql" else None
    s = interop_servers.Server(database_url=db)
    s.env["SIGHTLINE_TEST_ALLOW_LOOPBACK_URLS"] = "1"
    s.start()
    yield s
    s.stop()
    shutil.rmtree(s.data_dir, ignore_errors=True)
