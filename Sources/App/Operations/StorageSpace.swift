import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Free space where blobs and the SQLite file live. Below `Settings.minFreeDiskBytes`
/// writes are refused with 503 before they start (a half-written blob or a database that
/// cannot grow helps nobody), and `/readyz` reports the server not ready.
enum StorageSpace {
    static func freeBytes(at path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }

    static func isLow(settings: Settings) -> Bool {
        guard let free = freeBytes(at: settings.dataDir) else { return false }
        return free < settings.minFreeDiskBytes
    }

    static func refuseWritesIfLow(settings: Settings) throws {
        if isLow(settings: settings) {
            throw CVError(.serviceUnavailable, "ErrorUnknown", "The server is low on storage and cannot accept new data now; retry later.",
                          headers: ["Retry-After": "60"])
        }
    }
}
