"""Rows written straight into the server's database, for growing a benchmark project to
100,000 images in seconds instead of the minutes uploads take. Only the rows listings,
counts and filters read are written (images, image tags); the blobs are those of images
uploaded through the API, so every seeded row has real bytes behind its URLs."""
import io
import random
import sqlite3
import subprocess
import uuid
from datetime import datetime, timezone

COLUMNS = "id, project_id, original_hash, resized_hash, thumbnail_hash, format, width, height, metadata_json, created_at"
LINK_COLUMNS = "id, image_id, tag_id, project_id, created_at"


def rows(project, tags, start, count, blob, created_from, rng):
    """`count` image rows and their tag links: nine in ten tagged with one of `tags`, one in
    seven with camera metadata; creation times after `created_from` (seconds)."""
    images, links = [], []
    for i in range(start, start + count):
        image = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
        created = created_from + (i - start) * 0.001
        meta = '{"camera":"a"}' if i % 7 == 0 else "{}"
        images.append((image, project, f"seed-{i:08d}", blob["resized"], blob["thumbnail"], "jpeg", 64, 64, meta, created))
        if i % 10:
            links.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(), image, tags[i % len(tags)], project, created))
    return images, links


class SQLiteRows:
    def __init__(self, path):
        self.path = path

    def insert(self, images, links):
        con = sqlite3.connect(self.path, timeout=30)
        with con:
            con.executemany(f"INSERT INTO images ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", images)
            con.executemany(f"INSERT INTO image_tags ({LINK_COLUMNS}) VALUES (?,?,?,?,?)", links)
        con.close()

    def analyze(self):
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("ANALYZE")
        con.close()


class PostgresRows:
    def __init__(self, url):
        self.url = url

    def copy(self, table, columns, values):
        def cell(v):
            if isinstance(v, float):
                return datetime.fromtimestamp(v, timezone.utc).isoformat()
            return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        data = io.StringIO()
        for row in values:
            data.write("\t".join(cell(v) for v in row) + "\n")
        subprocess.run(["psql", self.url, "-q", "-v", "ON_ERROR_STOP=1", "-c", f"COPY {table} ({columns}) FROM STDIN"],
                       input=data.getvalue(), text=True, check=True, capture_output=True)

    def insert(self, images, links):
        self.copy("images", COLUMNS, images)
        self.copy("image_tags", LINK_COLUMNS, links)

    def analyze(self):
        # What autovacuum does soon after a bulk load (visibility map and statistics).
        subprocess.run(["psql", self.url, "-q", "-c", "VACUUM ANALYZE"], check=True, capture_output=True)


def seed_rng():
    return random.Random(2026)
