import AsyncHTTPClient
import Fluent
import Foundation
import NIOCore
import NIOHTTP1
import Vapor

/// Blobs as objects `<prefix>blobs/aa/bb/<sha256>` in an S3-compatible bucket shared by every
/// node. Requests are signed with Signature V4 (`S3Signer`) and retried with backoff; a
/// store that stays unreachable raises `BlobStoreUnavailable` (503 to clients). Deletions
/// go through `BlobWriteGate`, since S3 has no rename to set a blob aside atomically.
struct S3BlobStore: BlobStore {
    var location: S3Location
    var signer: S3Signer
    let client: HTTPClient
    let gate: BlobWriteGate
    /// Tries per request, and the first pause between them (doubled each time).
    var attempts = 3
    var backoff: TimeAmount = .milliseconds(200)
    var timeout: TimeAmount = .seconds(60)
    /// Blobs larger than this (exports) go up in parts of `partSize`, each retried on its own.
    var multipartThreshold = 16 << 20
    var partSize = 8 << 20

    func key(_ hash: String) -> String {
        let h = Array(hash)
        return "\(location.prefix)blobs/\(String(h[0..<2]))/\(String(h[2..<4]))/\(hash)"
    }

    func read(_ hash: String) async throws -> Data {
        guard Blob.isHash(hash) else { throw BlobMissing(hash: hash) }
        let (status, _, body) = try await send(.GET, key: key(hash))
        if status == .notFound { throw BlobMissing(hash: hash) }
        guard status == .ok else { throw Self.failure("GET", status, body) }
        return body
    }

    func readBlocking(_ hash: String) throws -> Data {
        let result = BlockingResult<Data>()
        Task { result.set(await Result { try await read(hash) }) }
        return try result.wait()
    }

    func exists(_ hash: String) async throws -> Bool {
        guard Blob.isHash(hash) else { return false }
        let (status, _, body) = try await send(.HEAD, key: key(hash))
        if status == .notFound { return false }
        guard status == .ok else { throw Self.failure("HEAD", status, body) }
        return true
    }

    func put(_ blobs: [Data]) async throws -> [String] {
        let hashes = blobs.map(Blob.hash)
        try await gate.recordWrites(hashes)
        try await forEachConcurrently(Array(zip(hashes, blobs))) { hash, data in try await upload(hash, data) }
        return hashes
    }

    func keep(_ blobs: [(hash: String, data: Data)]) async throws {
        try await gate.recordWrites(blobs.map(\.hash))
        try await forEachConcurrently(blobs) { hash, data in
            if try await !exists(hash) { try await upload(hash, data) }
        }
    }

    private func upload(_ hash: String, _ data: Data) async throws {
        if data.count > multipartThreshold { return try await S3MultipartUpload(store: self, key: key(hash)).upload(data) }
        // The blob's name is its SHA-256, which is also the payload hash the signature covers.
        let (status, _, body) = try await send(.PUT, key: key(hash), body: data, payloadHash: hash,
                                               headers: [("content-type", "application/octet-stream")])
        guard status == .ok else { throw Self.failure("PUT", status, body) }
    }

    func list() async throws -> [(hash: String, modified: Date)] {
        var out: [(String, Date)] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", "\(location.prefix)blobs/")]
            if let token { query.append(("continuation-token", token)) }
            let (status, _, body) = try await send(.GET, key: nil, query: query)
            guard status == .ok else { throw Self.failure("LIST", status, body) }
            let page = S3ListPage(xml: String(decoding: body, as: UTF8.self))
            out += page.objects.compactMap { object in
                let name = String(object.key.split(separator: "/").last ?? "")
                return Blob.isHash(name) ? (name, object.modified) : nil
            }
            token = page.nextToken
        } while token != nil
        return out
    }

    func remove(_ hash: String, grace: TimeInterval, isReferenced: @Sendable (String) async throws -> Bool) async throws -> Bool {
        let store = self
        return try await gate.remove(hash, grace: grace, isReferenced: isReferenced) {
            let (status, _, body) = try await store.send(.DELETE, key: store.key(hash))
            guard status == .noContent || status == .ok || status == .notFound else { throw Self.failure("DELETE", status, body) }
        }
    }

    func recover(isReferenced: @Sendable (String) async throws -> Bool) async throws {
        try await gate.prune(olderThan: 24 * 3600)
    }

    /// One signed request, retried on network errors, 5xx and 429; the body collected.
    func send(_ method: HTTPMethod, key: String?, query: [(String, String)] = [], body: Data? = nil,
              payloadHash: String? = nil, headers extra: [(String, String)] = []) async throws -> (HTTPResponseStatus, HTTPHeaders, Data) {
        let response = try await execute(method, key: key, query: query, body: body, payloadHash: payloadHash, headers: extra)
        let data = method == .HEAD ? Data() : try await outage("reading a \(method.rawValue) answer") {
            Data(buffer: try await response.body.collect(upTo: Self.maxResponseBytes))
        }
        return (response.status, response.headers, data)
    }

    /// A connection lost while a body streams is the store's outage, like one refused.
    func outage<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e where !(e is CancellationError || e is BlobStoreUnavailable) {
            throw BlobStoreUnavailable(description: "object store \(location.endpointDescription): \(what) failed: \(e)")
        }
    }

    /// One signed request, retried on network errors, 5xx and 429, answered with its head:
    /// the caller reads the body as it arrives.
    func execute(_ method: HTTPMethod, key: String?, query: [(String, String)] = [], body: Data? = nil,
                 payloadHash: String? = nil, headers extra: [(String, String)] = []) async throws -> HTTPClientResponse {
        var delay = backoff
        var lastError = ""
        for attempt in 1...max(1, attempts) {
            if attempt > 1 {
                try await Task.sleep(nanoseconds: UInt64(delay.nanoseconds))
                delay = delay * 2
            }
            let path = location.path(key: key)
            let signed = signer.sign(method: method.rawValue, path: path, query: query,
                                     headers: [("host", location.hostHeader)] + extra,
                                     payloadHash: payloadHash ?? (body.map(S3Signer.sha256Hex) ?? S3Signer.emptyPayloadHash),
                                     date: Date())
            var request = HTTPClientRequest(url: location.url(path: path, query: query))
            request.method = method
            for (name, value) in signed where name.lowercased() != "host" { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(data: body)) }
            do {
                let response = try await client.execute(request, timeout: timeout)
                if response.status.code >= 500 || response.status == .tooManyRequests {
                    lastError = "\(method.rawValue) answered \(response.status.code)"
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    continue
                }
                return response
            } catch let error as CancellationError {
                throw error
            } catch {
                lastError = "\(method.rawValue) failed: \(error)"
            }
        }
        throw BlobStoreUnavailable(description: "object store \(location.endpointDescription): \(lastError)")
    }

    func download(_ hash: String) async throws -> BlobDownload {
        guard Blob.isHash(hash) else { throw BlobMissing(hash: hash) }
        let response = try await execute(.GET, key: key(hash))
        if response.status == .notFound { throw BlobMissing(hash: hash) }
        guard response.status == .ok else {
            throw Self.failure("GET", response.status, Data(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
        let chunks = ChunkReader(response.body.makeAsyncIterator())
        // At least the few bytes that tell a file's type, however the body arrives.
        let first = try await outage("reading a GET answer") {
            var first = try await chunks.next() ?? ByteBuffer()
            while first.readableBytes < 64, var more = try await chunks.next() { first.writeBuffer(&more) }
            return first
        }
        return BlobDownload(length: response.headers.first(name: "content-length").flatMap(Int.init), first: first) { write in
            while let chunk = try await chunks.next() { try await write(chunk) }
        }
    }

    /// Exports are the largest blobs; nothing stored here is near this.
    static let maxResponseBytes = 2 << 30

    static func failure(_ what: String, _ status: HTTPResponseStatus, _ body: Data) -> Error {
        let code = S3ListPage.element("Code", in: String(decoding: body.prefix(4096), as: UTF8.self)) ?? ""
        return BlobStoreUnavailable(description: "object store refused \(what): \(status.code) \(code)")
    }

    private func forEachConcurrently<T: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for item in items { group.addTask { try await body(item) } }
            try await group.waitForAll()
        }
    }
}

extension S3BlobStore {
    /// A client that fails a request as soon as its connection is refused (the store's own
    /// retries decide what happens next) instead of retrying until the request's deadline.
    static func makeClient(eventLoopGroup: EventLoopGroup) -> HTTPClient {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(60)))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
    }
}

/// Closes an HTTP client when the application stops.
struct HTTPClientShutdown: LifecycleHandler {
    let client: HTTPClient
    func shutdownAsync(_ application: Application) async {
        try? await client.shutdown()
    }
}

/// A response body read chunk by chunk by whoever holds it (one reader at a time).
final class ChunkReader: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    init(_ iterator: HTTPClientResponse.Body.AsyncIterator) { self.iterator = iterator }
    func next() async throws -> ByteBuffer? { try await iterator.next() }
}

/// The result of async work, awaited by a thread that must block (engine and decode workers).
final class BlockingResult<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, Error>?

    func set(_ r: Result<T, Error>) { result = r; done.signal() }

    func wait() throws -> T {
        done.wait()
        return try result!.get()
    }
}

extension Result where Failure == Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
