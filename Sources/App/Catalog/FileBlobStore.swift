import Foundation
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Content-addressed files under `DATA_DIR/blobs/aa/bb/<sha256>`. A blob is written to a
/// temp file, fsynced, renamed into place and its directory fsynced, so once `put`
/// returns the bytes survive a crash. Rows referencing blobs are committed only after.
/// Reads, writes and listings run on `threads`; the quick checks (`exists`, the sweep's renames) run in place.
struct FileBlobStore: BlobStore {
    let root: URL
    let threads: NIOThreadPool

    struct IOFailure: Error, CustomStringConvertible {
        let description: String
    }

    init(dataDir: String, threads: NIOThreadPool) {
        root = URL(fileURLWithPath: dataDir).appendingPathComponent("blobs")
        self.threads = threads
    }

    func path(_ hash: String) -> URL {
        let h = Array(hash)
        return root.appendingPathComponent(String(h[0..<2])).appendingPathComponent(String(h[2..<4]))
            .appendingPathComponent(hash)
    }

    func exists(_ hash: String) async throws -> Bool { existsNow(hash) }

    private func existsNow(_ hash: String) -> Bool { FileManager.default.fileExists(atPath: path(hash).path) }

    func read(_ hash: String) async throws -> Data {
        try await threads.runIfActive { try readBlocking(hash) }
    }

    func readBlocking(_ hash: String) throws -> Data {
        guard Blob.isHash(hash) else { throw IOFailure(description: "not a blob hash") }
        do {
            return try Data(contentsOf: path(hash))
        } catch where !existsNow(hash) {
            throw BlobMissing(hash: hash)
        }
    }

    func download(_ hash: String) async throws -> BlobDownload {
        let data = try await read(hash)
        return BlobDownload(length: data.count, first: ByteBuffer(data: data)) { _ in }
    }

    func put(_ blobs: [Data]) async throws -> [String] {
        try await threads.runIfActive { try blobs.map(putNow) }
    }

    func keep(_ blobs: [(hash: String, data: Data)]) async throws {
        try await threads.runIfActive { for (hash, data) in blobs where !touch(path(hash)) { try putNow(data) } }
    }

    /// Stores `data` durably and returns its SHA-256.
    @discardableResult
    private func putNow(_ data: Data) throws -> String {
        let hash = Blob.hash(data)
        let final = path(hash)
        // A blob that is already there is reused: refresh its time first, so that a sweep
        // running now sees it as fresh (the sweeper re-checks the time after setting a blob
        // aside). If a sweep set it aside already, the touch fails and the bytes are written anew.
        if touch(final) { return hash }
        let dir = final.deletingLastPathComponent()
        let tmpDir = root.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: tmpDir, withIntermediateDirectories: true)
        let tmp = tmpDir.appendingPathComponent(UUID().uuidString)
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw IOFailure(description: "cannot create \(tmp.path): errno \(errno)") }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp.path, final.path) == 0 else {
            unlink(tmp.path)
            throw IOFailure(description: "cannot store blob \(hash): errno \(errno)")
        }
        syncDirectory(dir)
        return hash
    }

    /// Sets a file's modification time to now; false when it does not exist.
    @discardableResult
    func touch(_ url: URL) -> Bool {
        utimensat(AT_FDCWD, url.path, nil, 0) == 0
    }

    /// When the blob's file (or a set-aside copy) was last written or reused.
    func modified(_ url: URL) -> Date? {
        var st = stat()
        guard stat(url.path, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec) + TimeInterval(st.st_mtim.tv_nsec) / 1e9)
    }

    /// Moves a blob out of its path (atomically), for a last check before it is deleted.
    /// Readers and `put` no longer find it there; `put` then writes it anew.
    func setAside(_ hash: String) -> URL? {
        let dir = root.appendingPathComponent("trash")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // The name records when it was set aside (rename keeps the blob's own time).
        let aside = dir.appendingPathComponent("\(hash).\(Int(Date().timeIntervalSince1970)).\(UUID().uuidString)")
        return rename(path(hash).path, aside.path) == 0 ? aside : nil
    }

    /// Puts a set-aside blob back; when `put` has written it again meanwhile, that copy stays.
    func restore(_ aside: URL, hash: String) {
        if link(aside.path, path(hash).path) == 0 || errno == EEXIST { unlink(aside.path); return }
        _ = rename(aside.path, path(hash).path)
    }

    func discard(_ aside: URL) { unlink(aside.path) }

    /// Set-aside files a stopped sweep left behind, with the blob each one is.
    func setAsideFiles(olderThan cutoff: Date) -> [(hash: String, url: URL)] {
        let dir = root.appendingPathComponent("trash")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).compactMap { name in
            let url = dir.appendingPathComponent(name)
            let parts = name.split(separator: ".")
            guard parts.count == 3, Blob.isHash(String(parts[0])), let at = TimeInterval(parts[1]),
                  Date(timeIntervalSince1970: at) < cutoff else { return nil }
            return (String(parts[0]), url)
        }
    }

    func list() async throws -> [(hash: String, modified: Date)] {
        try await threads.runIfActive { all() }
    }

    /// Every stored blob with its modification time.
    func all() -> [(hash: String, modified: Date)] {
        guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.contentModificationDateKey, .isRegularFileKey]) else { return [] }
        var out: [(String, Date)] = []
        for case let url as URL in e where Blob.isHash(url.lastPathComponent) {
            let v = try? url.resourceValues(forKeys: [.contentModificationDateKey, .isRegularFileKey])
            if v?.isRegularFile == true { out.append((url.lastPathComponent, v?.contentModificationDate ?? Date())) }
        }
        return out
    }

    private func syncDirectory(_ dir: URL) {
        let fd = open(dir.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}

extension FileBlobStore {
    /// The blob is moved aside first (atomically: readers and `put` no longer find it there),
    /// then checked again, then deleted or put back. `put` refreshes a reused blob's time, and
    /// writes it anew once it is aside, so a racing upload never loses its bytes.
    func remove(_ hash: String, grace: TimeInterval, isReferenced: @Sendable (String) async throws -> Bool) async throws -> Bool {
        func fresh(_ url: URL) -> Bool { modified(url).map { Date().timeIntervalSince($0) < grace } ?? false }
        guard !fresh(path(hash)) else { return false }
        // Checked before setting aside too, so that a referenced blob is never out of reach
        // of its readers; the check after is the one that decides.
        guard try await !isReferenced(hash), let aside = setAside(hash) else { return false }
        do {
            if try await isReferenced(hash) || fresh(aside) {
                restore(aside, hash: hash)
                return false
            }
        } catch {
            restore(aside, hash: hash)
            throw error
        }
        discard(aside)
        return true
    }

    /// Blobs a stopped sweep left aside: back if referenced meanwhile, else gone.
    func recover(isReferenced: @Sendable (String) async throws -> Bool) async throws {
        for (hash, aside) in setAsideFiles(olderThan: Date().addingTimeInterval(-3600)) {
            if try await isReferenced(hash) { restore(aside, hash: hash) } else { discard(aside) }
        }
    }
}
