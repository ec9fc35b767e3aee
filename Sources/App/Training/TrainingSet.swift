import Fluent
import Foundation

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
    /// `iteration`. Runs inside the transaction that creates the iteration.
    static func record(iteration: UUID, project: UUID, selected: Set<UUID>?, on db: Database) async throws {
        let keep: (UUID) -> Bool = { selected?.contains($0) ?? true }
        let tags = try await Tag.query(on: db).filter(\.$projectID == project).all().filter { keep($0.id!) }
        var links: [UUID: [ImageTagLink]] = [:]
        for l in try await ImageTagLink.query(on: db).filter(\.$projectID == project).sort(\.$createdAt).all() where keep(l.tagID) {
            links[l.imageID, default: []].append(l)
        }
        var regions: [UUID: [ImageRegion]] = [:]
        for r in try await ImageRegion.query(on: db).filter(\.$projectID == project).sort(\.$createdAt).all() where keep(r.tagID) {
            regions[r.imageID, default: []].append(r)
        }
        try await tags.map { TrainedTag(iteration: iteration, tag: $0) }.create(on: db)
        let images = try await ImageRecord.query(on: db).filter(\.$projectID == project).all()
        // Chunks keep each insert well under SQLite's bound-variable limit.
        for start in stride(from: 0, to: images.count, by: 200) {
            try await images[start..<min(start + 200, images.count)].map {
                TrainedImage(iteration: iteration, image: $0, links: links[$0.id!] ?? [], regions: regions[$0.id!] ?? [])
            }.create(on: db)
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

    /// Tag ids per image, from its tags and its regions.
    var tagsByImage: [UUID: Set<UUID>] {
        var out: [UUID: Set<UUID>] = [:]
        for (image, ls) in links { for l in ls { out[image, default: []].insert(l.tagID) } }
        for (image, rs) in regions { for r in rs { out[image, default: []].insert(r.tagID) } }
        return out
    }

    /// Images per tag, for `Tag.imageCount` of the iteration's tags.
    var imageCounts: [UUID: Int] {
        var images: [UUID: Set<UUID>] = [:]
        for (image, tags) in tagsByImage { for t in tags { images[t, default: []].insert(image) } }
        return images.mapValues(\.count)
    }

    func matching(_ q: ImageQuery) -> [ImageRecord] {
        var rows = images
        if let ids = q.ids { let wanted = Set(ids); rows = rows.filter { wanted.contains($0.id!) } }
        if q.newestFirst { rows.sort { ($1.createdAt, $1.id!.uuidString) < ($0.createdAt, $0.id!.uuidString) } }
        return q.select(rows, tagsByImage: tagsByImage)
    }
}
