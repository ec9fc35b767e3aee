import Crypto
import Fluent
import Vapor

enum KeyKind: String, Codable, CaseIterable, Sendable {
    case training, prediction
}

/// One of an account's four keys, stored as a SHA-256 hash.
final class AccountKey: Model, @unchecked Sendable {
    static let schema = "account_keys"
    @ID(key: .id) var id: UUID?
    @Field(key: "account_id") var accountID: UUID
    @Field(key: "kind") var kindRaw: String
    @Field(key: "slot") var slot: Int
    @Field(key: "key_hash") var keyHash: String
    @Field(key: "hint") var hint: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    init() {}

    /// A fresh key: 32 lower-case hex characters from the system CSPRNG.
    static func generateSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
