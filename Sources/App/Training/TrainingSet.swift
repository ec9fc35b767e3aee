import Fluent
import Foundation
import SQLKit

/// What one iteration trained on: recorded when training is asked for, read by the
/// training job and by the image and tag queries that name an `iterationId`.
struct TrainingSet {
    /// By creation, as the project had them.
    var tags: [Tag]
    /// Every image the project had, tagged or not, by creation.
    var images: [ImageRecord]
    var links: [UUID: [ImageTagLink]]
    var regions: [UUID: [ImageRegion]]

    /// Copies the project's images, tags and regions (within `selected`, when given) for
    /// `iteration`, in the database (one statement, no rows through the server). Runs inside
    /// the transaction that creates the iteration.
    static func record(iteration: UUID, project: UUID, selected: Set<UUID>?, on db: Database) async throws {
        let tags = try await Tag.query(on: db).filter(\.$projectID == project).all().filter { selected?.contains($0.id!) ?? true }
        try await tags.map { TrainedTag(iteration: iteration, tag: $0) }.create(on: db)
        let sql = db as! SQLDatabase
        let within: SQLQueryString = selected.map { " AND tag_id IN (\(binds: $0.sorted { $0.uuidString < $1.uuidString }.map { $0 as any Encodable & Sendable })) " } ?? " "
        let columns: SQLQueryString = """
            INSERT INTO training_set_images (id, iteration_id, image_id, project_id, original_hash, resized_hash, thumbnail_hash,
              format, width, height, metadata_json, created_at, tags_json, regions_json)
            """
        if sql.dialect.name == "postgresql" {
            try await sql.raw(columns + """
                 SELECT gen_random_uuid(), \(bind: iteration), i.id, i.project_id, i.original_hash, i.resized_hash, i.thumbnail_hash,
                  i.format, i.width, i.height, i.metadata_json, i.created_at,
                  COALESCE((SELECT json_agg(json_build_object('tagId', l.tag_id, 'created', EXTRACT(EPOCH FROM l.created_at)) ORDER BY l.created_at)
                            FROM image_tags l WHERE l.image_id = i.id
                """ + within + """
                )::text, '[]'),
                  COALESCE((SELECT json_agg(json_build_object('id', r.id, 'tagId', r.tag_id, 'left', r."left", 'top', r."top", 'width', r.width,
                                            'height', r.height, 'created', EXTRACT(EPOCH FROM r.created_at)) ORDER BY r.created_at)
                            FROM image_regions r WHERE r.image_id = i.id
                """ + within + """
                )::text, '[]')
                FROM images i WHERE i.project_id = \(bind: project)
                """).run()
        } else {
            // Dates are stored as seconds, as the copies' JSON keeps them.
            try await sql.raw(columns + """
                 SELECT upper(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21, 12)),
                  \(bind: iteration), i.id, i.project_id, i.original_hash, i.resized_hash, i.thumbnail_hash,
                  i.format, i.width, i.height, i.metadata_json, i.created_at,
                  (SELECT json_group_array(json_object('tagId', l.tag_id, 'created', l.created_at) ORDER BY l.created_at)
                   FROM image_tags l WHERE l.image_id = i.id
                """ + within + """
                ),
                  (SELECT json_group_array(json_object('id', r.id, 'tagId', r.tag_id, 'left', r."left", 'top', r."top", 'width', r.width,
                                                       'height', r.height, 'created', r.created_at) ORDER BY r.created_at)
                   FROM image_regions r WHERE r.image_id = i.id
                """ + within + """
                )
                FROM (SELECT images.*, hex(randomblob(16)) AS h FROM images WHERE project_id = \(bind: project)) i
                """).run()
        }
    }

    /// The recorded set; nil for an iteration trained before sets were recorded.
    static func load(iteration: UUID, on db: Database) async throws -> TrainingSet? {
        let tags = try await TrainedTag.query(on: db).filter(\.$iterationID == iteration).all()
        let rows = try await TrainedImage.query(on: db).filter(\.$iterationID == iteration).all()
        guard !tags.isEmpty || !rows.isEmpty else { return nil }
        var set = TrainingSet(tags: tags.map(\.tag).sorted { ($0.createdAt ?? .distantPast, $0.id!.uuidString) < ($1.createdAt ?? .distantPast, $1.id!.uuidString) },
                              images: [], links: [:], regions: [:])
        for row in rows {
            set.images.append(row.image)
            let l = row.links, r = row.regions
            if !l.isEmpty { set.links[row.imageID] = l }
            if !r.isEmpty { set.regions[row.imageID] = r }
        }
        set.images.sort { ($0.createdAt, $0.id!.uuidString) < ($1.createdAt, $1.id!.uuidString) }
        return set
    }

    /// The set a training job works from. An iteration queued before sets were recorded
    /// gets one now, from the project as it is.
    static func load(iteration: Iteration, project: Project, on db: Database) async throws -> TrainingSet {
        if let set = try await load(iteration: iteration.id!, on: db) { return set }
        let selected = iteration.selectedTags.map { Set($0.split(separator: ",").compactMap { UUID(uuidString: String($0)) }) }
        try await db.writeTransaction { tx in try await record(iteration: iteration.id!, project: project.id!, selected: selected, on: tx) }
        return try await load(iteration: iteration.id!, on: db) ?? TrainingSet(tags: [], images: [], links: [:], regions: [:])
    }

    /// Every hash the set keeps alive, for freeing them once the iteration is deleted.
    static func blobs(iteration: UUID, on db: Database) async throws -> Set<String> {
        Set(try await TrainedImage.query(on: db).filter(\.$iterationID == iteration).all()
            .flatMap { [$0.originalHash, $0.resizedHash, $0.thumbnailHash] })
    }
}
