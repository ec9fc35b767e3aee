import Crypto
import Foundation
import SQLKit

/// A source's project list, kept so that the page that picks from it is a GET
/// (post/redirect/get) and the training key never goes back into a page. In the database,
/// so any node serves that page; the key sealed (AES-GCM).
extension CustomVisionImportRuns {
    struct Listing: Sendable {
        let userID: UUID
        let endpoint: String
        let trainingKey: String
        let projects: [ListedProject]
        let created: Date
    }

    struct ListedProject: Codable, Sendable {
        var id: String
        var name: String
    }

    /// A listing is kept half an hour, and each user's five newest only.
    static let listingSeconds: TimeInterval = 1800
    static let listingsPerUser = 5

    func keep(_ listing: Listing) async throws -> UUID {
        let id = UUID(), user = Self.text(listing.userID)
        let sealed = try AES.GCM.seal(Data(listing.trainingKey.utf8), using: sealingKey).combined!.base64EncodedString()
        let sql = db as! SQLDatabase
        try await sql.raw("DELETE FROM import_listings WHERE created_at < \(bind: Date().timeIntervalSince1970 - Self.listingSeconds)").run()
        try await sql.raw("""
            INSERT INTO import_listings (id, user_id, endpoint, sealed_key, projects, created_at) VALUES \
            (\(bind: Self.text(id)), \(bind: user), \(bind: listing.endpoint), \(bind: sealed), \
            \(bind: try Self.json(listing.projects)), \(bind: listing.created.timeIntervalSince1970))
            """).run()
        try await sql.raw("""
            DELETE FROM import_listings WHERE user_id = \(bind: user) AND id NOT IN \
            (SELECT id FROM import_listings WHERE user_id = \(bind: user) ORDER BY created_at DESC LIMIT \(literal: Self.listingsPerUser))
            """).run()
        return id
    }

    func listing(_ id: UUID, user: UUID) async throws -> Listing? {
        guard let row = try await (db as! SQLDatabase).raw("""
            SELECT endpoint, sealed_key, projects, created_at FROM import_listings \
            WHERE id = \(bind: Self.text(id)) AND user_id = \(bind: Self.text(user)) \
            AND created_at >= \(bind: Date().timeIntervalSince1970 - Self.listingSeconds)
            """).first() else { return nil }
        guard let sealed = Data(base64Encoded: try row.decode(column: "sealed_key", as: String.self)),
              let box = try? AES.GCM.SealedBox(combined: sealed),
              let key = try? AES.GCM.open(box, using: sealingKey) else { return nil }   // sealed under another BLOB_SIGNING_KEY
        let projects = try JSONDecoder().decode([ListedProject].self, from: Data(try row.decode(column: "projects", as: String.self).utf8))
        return Listing(userID: user, endpoint: try row.decode(column: "endpoint", as: String.self),
                       trainingKey: String(decoding: key, as: UTF8.self), projects: projects,
                       created: Date(timeIntervalSince1970: try row.decode(column: "created_at", as: Double.self)))
    }

    func forget(listing id: UUID) async throws {
        try await (db as! SQLDatabase).raw("DELETE FROM import_listings WHERE id = \(bind: Self.text(id))").run()
    }
}
