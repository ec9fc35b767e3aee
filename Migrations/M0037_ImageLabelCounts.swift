import Fluent
import SQLKit

/// `images.label_count`: how many image tags and regions an image has, kept by triggers on
/// both tables (every writer, cascades included), so that "tagged" and "untagged" are a
/// column test and their counts an index range instead of two probes per image.
public struct M0037_ImageLabelCounts: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        let sql = db as! SQLDatabase
        try await sql.raw("ALTER TABLE images ADD COLUMN label_count INTEGER NOT NULL DEFAULT 0").run()
        try await sql.raw("""
            UPDATE images SET label_count = (SELECT COUNT(*) FROM image_tags l WHERE l.image_id = images.id)
              + (SELECT COUNT(*) FROM image_regions r WHERE r.image_id = images.id)
            """).run()
        try await sql.raw("CREATE INDEX IF NOT EXISTS images_project_labels ON images (project_id, label_count)").run()
        if sql.dialect.name == "postgresql" {
            try await sql.raw("""
                CREATE OR REPLACE FUNCTION images_label_count() RETURNS trigger AS $$
                BEGIN
                  IF TG_OP = 'INSERT' THEN
                    UPDATE images SET label_count = label_count + 1 WHERE id = NEW.image_id;
                  ELSE
                    UPDATE images SET label_count = label_count - 1 WHERE id = OLD.image_id;
                  END IF;
                  RETURN NULL;
                END $$ LANGUAGE plpgsql
                """).run()
            for table in ["image_tags", "image_regions"] {
                try await sql.raw("""
                    CREATE TRIGGER \(unsafeRaw: table)_label_count AFTER INSERT OR DELETE ON \(unsafeRaw: table)
                    FOR EACH ROW EXECUTE FUNCTION images_label_count()
                    """).run()
            }
        } else {
            for table in ["image_tags", "image_regions"] {
                try await sql.raw("""
                    CREATE TRIGGER \(unsafeRaw: table)_label_insert AFTER INSERT ON \(unsafeRaw: table)
                    BEGIN UPDATE images SET label_count = label_count + 1 WHERE id = NEW.image_id; END
                    """).run()
                try await sql.raw("""
                    CREATE TRIGGER \(unsafeRaw: table)_label_delete AFTER DELETE ON \(unsafeRaw: table)
                    BEGIN UPDATE images SET label_count = label_count - 1 WHERE id = OLD.image_id; END
                    """).run()
            }
        }
    }

    public func revert(on db: Database) async throws {
        let sql = db as! SQLDatabase
        if sql.dialect.name == "postgresql" {
            for table in ["image_tags", "image_regions"] { try await sql.raw("DROP TRIGGER IF EXISTS \(unsafeRaw: table)_label_count ON \(unsafeRaw: table)").run() }
            try await sql.raw("DROP FUNCTION IF EXISTS images_label_count()").run()
        } else {
            for table in ["image_tags", "image_regions"] {
                try await sql.raw("DROP TRIGGER IF EXISTS \(unsafeRaw: table)_label_insert").run()
                try await sql.raw("DROP TRIGGER IF EXISTS \(unsafeRaw: table)_label_delete").run()
            }
        }
        try await sql.raw("DROP INDEX IF EXISTS images_project_labels").run()
        try await sql.raw("ALTER TABLE images DROP COLUMN label_count").run()
    }
}
