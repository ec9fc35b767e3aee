import Fluent

/// Backbone features per (image bytes, backbone, augmentation view), float32 little-endian.
public struct M0019_CreateFeatures: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("features")
            .id()
            .field("blob_hash", .string, .required)
            .field("backbone", .string, .required)
            .field("view", .int, .required)
            .field("vector", .data, .required)
            .unique(on: "blob_hash", "backbone", "view")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("features").delete() }
}
