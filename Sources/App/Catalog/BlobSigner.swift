import Crypto
import Foundation
import Vapor

/// Time-limited blob URLs: `/blobs/<hash>?se=<unix expiry>&sig=<HMAC-SHA256 of path and expiry>`.
struct BlobSigner: Sendable {
    let key: SymmetricKey
    /// How long a URL in an API response stays valid.
    static let lifetime: TimeInterval = 24 * 3600

    struct KeyRequired: Error, CustomStringConvertible {
        var description: String {
            "BLOB_STORE_URL is set: set BLOB_SIGNING_KEY too, the same on every node, so that a link one node signs opens on any other"
        }
    }

    /// The key from BLOB_SIGNING_KEY, else one generated once and kept in DATA_DIR
    /// (processes sharing DATA_DIR share it). Nodes sharing an object store do not share a
    /// DATA_DIR, so with one the variable is required.
    static func load(settings: Settings) throws -> BlobSigner {
        if !settings.blobSigningKey.isEmpty {
            return BlobSigner(key: SymmetricKey(data: SHA256.hash(data: Data(settings.blobSigningKey.utf8))))
        }
        if settings.blobStoreURL != nil { throw KeyRequired() }
        let file = URL(fileURLWithPath: settings.dataDir).appendingPathComponent("blob-signing.key")
        if let existing = try? Data(contentsOf: file), existing.count == 32 {
            return BlobSigner(key: SymmetricKey(data: existing))
        }
        try FileManager.default.createDirectory(atPath: settings.dataDir, withIntermediateDirectories: true)
        let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        FileManager.default.createFile(atPath: file.path, contents: fresh, attributes: [.posixPermissions: 0o600])
        return BlobSigner(key: SymmetricKey(data: (try? Data(contentsOf: file)) ?? fresh))
    }

    private func signature(_ path: String, _ expiry: Int) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(path)\n\(expiry)".utf8), using: key)
        return Data(mac).hex
    }

    func url(hash: String, base: String, now: Date = Date()) -> String {
        let path = "/blobs/\(hash)"
        let expiry = Int(now.addingTimeInterval(Self.lifetime).timeIntervalSince1970)
        return "\(base.hasSuffix("/") ? String(base.dropLast()) : base)\(path)?se=\(expiry)&sig=\(signature(path, expiry))"
    }

    func verify(path: String, expiry: Int?, signature sig: String?, now: Date = Date()) -> Bool {
        guard let expiry, let sig, expiry >= Int(now.timeIntervalSince1970) else { return false }
        let expected = signature(path, expiry)
        // Constant-time comparison.
        guard expected.utf8.count == sig.utf8.count else { return false }
        return zip(expected.utf8, sig.utf8).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

struct BlobSignerKey: StorageKey { typealias Value = BlobSigner }
struct BlobStoreKey: StorageKey { typealias Value = any BlobStore }

extension Application {
    var blobSigner: BlobSigner {
        get { storage[BlobSignerKey.self]! }
        set { storage[BlobSignerKey.self] = newValue }
    }
    var blobStore: any BlobStore {
        get { storage[BlobStoreKey.self]! }
        set { storage[BlobStoreKey.self] = newValue }
    }
}
