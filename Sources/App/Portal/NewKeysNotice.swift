import Crypto
import Foundation
import Vapor

/// New keys survive the redirect after the form that made them (post/redirect/get)
/// without being written down in clear: they ride in the session sealed with a key that
/// lives only in this process's memory, and are opened and dropped on the next page.
/// Sightline stores keys as hashes, so this one page is the only time a key is shown.
enum NewKeysNotice {
    struct Key: Codable { var label: String; var secret: String }
    private static let sessionKey = "new-keys"

    static func leave(_ keys: [Key], on req: Request) {
        guard let plain = try? JSONEncoder().encode(keys),
              let sealed = try? AES.GCM.seal(plain, using: req.application.noticeKey).combined else { return }
        req.session.data[sessionKey] = sealed.base64EncodedString()
    }

    static func take(from req: Request) -> [Key] {
        guard req.hasSession, let raw = req.session.data[sessionKey] else { return [] }
        req.session.data[sessionKey] = nil
        guard let data = Data(base64Encoded: raw), let box = try? AES.GCM.SealedBox(combined: data),
              let plain = try? AES.GCM.open(box, using: req.application.noticeKey) else { return [] }
        return (try? JSONDecoder().decode([Key].self, from: plain)) ?? []
    }
}

extension Application {
    private struct NoticeKeyStorage: StorageKey { typealias Value = SymmetricKey }

    /// Made at first use; a restart forgets it, and with it any key not yet shown.
    var noticeKey: SymmetricKey {
        if let k = storage[NoticeKeyStorage.self] { return k }
        let k = SymmetricKey(size: .bits256)
        storage[NoticeKeyStorage.self] = k
        return k
    }
}
