import Crypto
import Foundation
import Vapor

/// New keys survive the redirect after the form that made them (post/redirect/get)
/// without being written down in clear: they ride in the session sealed with a key that
/// lives only in this process's memory, and are opened and dropped on the next page.
/// Sightline stores keys as hashes, so this one page is the only time a key is shown.
enum NewKeysNotice {
    struct Key: Codable { var label: String; var secret: String }
    private struct Sealed: Codable { var account: UUID; var keys: [Key] }
    private static let sessionKey = "new-keys"

    /// What the account page finds: the keys, or that there were keys it cannot open
    /// (the server restarted in between), so the user knows to regenerate.
    enum Found { case none, keys([Key]), lost }

    static func leave(_ keys: [Key], for account: Account, on req: Request) {
        guard let plain = try? JSONEncoder().encode(Sealed(account: account.id!, keys: keys)),
              let sealed = try? AES.GCM.seal(plain, using: req.application.noticeKey).combined else { return }
        req.session.data[sessionKey] = sealed.base64EncodedString()
    }

    /// The keys left for this account's page, removed as they are read; another
    /// account's page leaves them where they are.
    static func take(for account: Account, from req: Request) -> Found {
        guard req.hasSession, let raw = req.session.data[sessionKey] else { return .none }
        guard let data = Data(base64Encoded: raw), let box = try? AES.GCM.SealedBox(combined: data),
              let plain = try? AES.GCM.open(box, using: req.application.noticeKey),
              let sealed = try? JSONDecoder().decode(Sealed.self, from: plain) else {
            req.session.data[sessionKey] = nil
            return .lost
        }
        guard sealed.account == account.id else { return .none }
        req.session.data[sessionKey] = nil
        return .keys(sealed.keys)
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
