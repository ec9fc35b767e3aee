import Fluent
import SQLKit

/// Counters kept by triggers on images, image_tags and image_regions (every writer,
/// cascades included), all backfilled:
/// - `images.label_count`, the image's tags and regions: "tagged" and "untagged" become a
///   column test;
/// - the images carrying each tag (by a tag or a region), and the images of each project:
///   `tags.image_count` and `projects.image_count` plus the rows of `count_changes` (owner:
///   the tag or project id), which the triggers append to (appending takes no lock on the
///   tag or project, so writers never wait for each other there) and readers fold in
///   now and then (`ImageCounters`).
public struct M0037_ImageLabelCounts: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        let sql = db as! SQLDatabase
        try await sql.raw("ALTER TABLE images ADD COLUMN label_count INTEGER NOT NULL DEFAULT 0").run()
        try await sql.raw("ALTER TABLE tags ADD COLUMN image_count INTEGER NOT NULL DEFAULT 0").run()
        try await sql.raw("ALTER TABLE projects ADD COLUMN image_count INTEGER NOT NULL DEFAULT 0").run()
        try await sql.raw("UPDATE projects SET image_count = (SELECT COUNT(*) FROM images WHERE images.project_id = projects.id)").run()
        try await sql.raw("""
            UPDATE images SET label_count = (SELECT COUNT(*) FROM image_tags l WHERE l.image_id = images.id)
              + (SELECT COUNT(*) FROM image_regions r WHERE r.image_id = images.id)
            """).run()
        try await sql.raw("""
            UPDATE tags SET image_count = (SELECT COUNT(*) FROM (
              SELECT image_id FROM image_tags l WHERE l.tag_id = tags.id
              UNION SELECT image_id FROM image_regions r WHERE r.tag_id = tags.id) AS carrying)
            """).run()
        try await sql.raw("CREATE INDEX IF NOT EXISTS images_project_labels ON images (project_id, label_count)").run()
        // A page in creation order, tagged or not, read from the index alone.
        try await sql.raw("CREATE INDEX IF NOT EXISTS images_project_created ON images (project_id, created_at, id, label_count)").run()
        let serial = sql.dialect.name == "postgresql" ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY"
        try await sql.raw("CREATE TABLE count_changes (seq \(unsafeRaw: serial), owner UUID NOT NULL, delta INTEGER NOT NULL)").run()
        try await sql.raw("CREATE INDEX IF NOT EXISTS count_changes_owner ON count_changes (owner)").run()
        try await sql.raw("CREATE INDEX IF NOT EXISTS image_regions_image_tag ON image_regions (image_id, tag_id)").run()
        if sql.dialect.name == "postgresql" {
            // Before each row: lock the image, so label changes of one image queue and each
            // sees the others' committed rows (writers take images in id order, ImageService,
            // so they cannot deadlock), and note whether the tag gains or loses the image. A
            // row-level BEFORE trigger sees the rows its statement wrote before this one.
            // After each row: the image's label count, for rows really written (an insert
            // skipped by ON CONFLICT fires the BEFORE trigger only).
            try await sql.raw("""
                CREATE OR REPLACE FUNCTION sightline_label_counts() RETURNS trigger AS $$
                DECLARE img uuid; tg uuid; delta integer; others integer;
                BEGIN
                  IF TG_OP = 'INSERT' THEN img := NEW.image_id; tg := NEW.tag_id; delta := 1;
                  ELSE img := OLD.image_id; tg := OLD.tag_id; delta := -1; END IF;
                  IF TG_WHEN = 'AFTER' THEN
                    UPDATE images SET label_count = label_count + delta WHERE id = img;
                    RETURN NULL;
                  END IF;
                  PERFORM 1 FROM images WHERE id = img FOR NO KEY UPDATE;
                  SELECT (SELECT COUNT(*) FROM image_tags WHERE image_id = img AND tag_id = tg)
                       + (SELECT COUNT(*) FROM image_regions WHERE image_id = img AND tag_id = tg) INTO others;
                  IF (delta = 1 AND others = 0) OR (delta = -1 AND others = 1) THEN
                    INSERT INTO count_changes (owner, delta) VALUES (tg, delta);
                  END IF;
                  IF TG_OP = 'INSERT' THEN RETURN NEW; END IF;
                  RETURN OLD;
                END $$ LANGUAGE plpgsql
                """).run()
            for table in ["image_tags", "image_regions"] {
                for when in ["BEFORE", "AFTER"] {
                    try await sql.raw("""
                        CREATE TRIGGER \(unsafeRaw: table)_label_counts_\(unsafeRaw: when.lowercased()) \(unsafeRaw: when) INSERT OR DELETE
                        ON \(unsafeRaw: table) FOR EACH ROW EXECUTE FUNCTION sightline_label_counts()
                        """).run()
                }
            }
            try await sql.raw("""
                CREATE OR REPLACE FUNCTION sightline_image_counts() RETURNS trigger AS $$
                BEGIN
                  IF TG_OP = 'INSERT' THEN INSERT INTO count_changes (owner, delta) VALUES (NEW.project_id, 1);
                  ELSE INSERT INTO count_changes (owner, delta) VALUES (OLD.project_id, -1); END IF;
                  RETURN NULL;
                END $$ LANGUAGE plpgsql
                """).run()
            try await sql.raw("CREATE TRIGGER images_count AFTER INSERT OR DELETE ON images FOR EACH ROW EXECUTE FUNCTION sightline_image_counts()").run()
        } else {
            // SQLite runs a row trigger as each row is written, one writer at a time.
            let pair = "(SELECT COUNT(*) FROM image_tags WHERE image_id = %@.image_id AND tag_id = %@.tag_id)"
                + " + (SELECT COUNT(*) FROM image_regions WHERE image_id = %@.image_id AND tag_id = %@.tag_id)"
            func rows(_ row: String) -> String { pair.replacingOccurrences(of: "%@", with: row) }
            for table in ["image_tags", "image_regions"] {
                try await sql.raw("""
                    CREATE TRIGGER \(unsafeRaw: table)_label_insert AFTER INSERT ON \(unsafeRaw: table) BEGIN
                      UPDATE images SET label_count = label_count + 1 WHERE id = NEW.image_id;
                      INSERT INTO count_changes (owner, delta) SELECT NEW.tag_id, 1 WHERE \(unsafeRaw: rows("NEW")) = 1;
                    END
                    """).run()
                try await sql.raw("""
                    CREATE TRIGGER \(unsafeRaw: table)_label_delete AFTER DELETE ON \(unsafeRaw: table) BEGIN
                      UPDATE images SET label_count = label_count - 1 WHERE id = OLD.image_id;
                      INSERT INTO count_changes (owner, delta) SELECT OLD.tag_id, -1 WHERE \(unsafeRaw: rows("OLD")) = 0;
                    END
                    """).run()
            }
            try await sql.raw("CREATE TRIGGER images_count_insert AFTER INSERT ON images BEGIN INSERT INTO count_changes (owner, delta) VALUES (NEW.project_id, 1); END").run()
            try await sql.raw("CREATE TRIGGER images_count_delete AFTER DELETE ON images BEGIN INSERT INTO count_changes (owner, delta) VALUES (OLD.project_id, -1); END").run()
        }
    }

    public func revert(on db: Database) async throws {
        let sql = db as! SQLDatabase
        if sql.dialect.name == "postgresql" {
            for table in ["image_tags", "image_regions"] {
                for when in ["before", "after"] {
                    try await sql.raw("DROP TRIGGER IF EXISTS \(unsafeRaw: table)_label_counts_\(unsafeRaw: when) ON \(unsafeRaw: table)").run()
                }
            }
            try await sql.raw("DROP FUNCTION IF EXISTS sightline_label_counts()").run()
            try await sql.raw("DROP TRIGGER IF EXISTS images_count ON images").run()
            try await sql.raw("DROP FUNCTION IF EXISTS sightline_image_counts()").run()
        } else {
            for table in ["image_tags", "image_regions"] {
                try await sql.raw("DROP TRIGGER IF EXISTS \(unsafeRaw: table)_label_insert").run()
                try await sql.raw("DROP TRIGGER IF EXISTS \(unsafeRaw: table)_label_delete").run()
            }
            try await sql.raw("DROP TRIGGER IF EXISTS images_count_insert").run()
            try await sql.raw("DROP TRIGGER IF EXISTS images_count_delete").run()
        }
        try await sql.raw("DROP TABLE IF EXISTS count_changes").run()
        try await sql.raw("DROP INDEX IF EXISTS image_regions_image_tag").run()
        try await sql.raw("DROP INDEX IF EXISTS images_project_labels").run()
        try await sql.raw("DROP INDEX IF EXISTS images_project_created").run()
        try await sql.raw("ALTER TABLE projects DROP COLUMN image_count").run()
        try await sql.raw("ALTER TABLE tags DROP COLUMN image_count").run()
        try await sql.raw("ALTER TABLE images DROP COLUMN label_count").run()
    }
}
