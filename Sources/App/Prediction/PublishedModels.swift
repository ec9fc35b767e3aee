import Fluent
import NIOConcurrencyHelpers
import Vapor

/// What a prediction call looks up before it runs the network: the iteration published
/// under a name, its project and the project's tags (for tag names). Kept for a couple of
/// seconds, so a prediction costs one database round trip (its quota unit) instead of four.
/// Publishing, unpublishing, deleting and tag or project edits in this process clear it at
/// once; another process sharing the database sees them within `lifetime`, as with keys
/// (`AccessCache`). Names that are not published are not remembered.
final class PublishedModels: @unchecked Sendable {
    static let shared = PublishedModels()
    static let lifetime: TimeInterval = 2
    static let maxEntries = 10_000

    struct Model: @unchecked Sendable {
        let iteration: Iteration
        let project: Project
        let tags: [UUID: Tag]
    }

    private struct Entry { var model: Model; var expires: Date }
    private let lock = NIOLock()
    private var entries: [String: Entry] = [:]
    private var generation = 0

    func model(project: UUID, name: String, on db: Database) async throws -> Model? {
        let slot = project.uuidString + "/" + name, now = Date()
        let (hit, gen) = lock.withLock { (entries[slot].flatMap { $0.expires > now ? $0.model : nil }, generation) }
        if let hit { return hit }
        guard let it = try await Iteration.query(on: db).filter(\.$projectID == project).filter(\.$publishName == name).first(),
              let p = try await Project.find(project, on: db) else { return nil }
        let model = Model(iteration: it, project: p, tags: try await ImageService(db: db).projectTags(p))
        lock.withLock {
            guard generation == gen else { return }
            if entries.count >= Self.maxEntries { entries.removeAll() }
            entries[slot] = Entry(model: model, expires: now.addingTimeInterval(Self.lifetime))
        }
        return model
    }

    /// After publishing, unpublishing, deleting, or editing tags or projects.
    func invalidateAll() {
        lock.withLock { entries.removeAll(); generation += 1 }
    }
}
