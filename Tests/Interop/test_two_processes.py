"""Two `sightline serve` processes sharing one PostgreSQL: 60 concurrent tag creations
on an F0 project (limit 50) create exactly 50."""
import concurrent.futures

import pytest
import requests

from conftest import PG_URL, Server, fresh_postgres_database, make_account


@pytest.mark.skipif(not PG_URL, reason="needs the PostgreSQL cluster from scripts/with-postgres.sh")
def test_tag_quota_holds_across_two_processes():
    db = fresh_postgres_database()
    a = Server(database_url=db).start()
    b = Server(database_url=db).start()
    try:
        token = a.create_admin()
        acct = make_account(a, token, "race@example.com", tier="F0")
        headers = {"Training-Key": acct["trainingKeys"][0]}
        project = requests.post(f"{a.url}/customvision/v3.3/training/projects?name=race", headers=headers,
                                timeout=30).json()["id"]

        def create(i):
            base = (a if i % 2 == 0 else b).url
            return requests.post(f"{base}/customvision/v3.4-preview/training/projects/{project}/tags?name=t{i}",
                                 headers=headers, timeout=60)

        with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
            results = list(pool.map(create, range(60)))
        ok = [r for r in results if r.status_code == 200]
        refused = [r for r in results if r.status_code != 200]
        assert len(ok) == 50, [r.text for r in refused][:3]
        assert len(refused) == 10
        assert {r.status_code for r in refused} == {400}
        assert {r.json()["code"] for r in refused} == {"BadRequestExceedTagPerProjectLimit"}
        listed = requests.get(f"{b.url}/customvision/v3.4-preview/training/projects/{project}/tags",
                              headers=headers, timeout=30).json()
        assert len(listed) == 50
    finally:
        a.stop()
        b.stop()
