import MultipartKit
import NIOConcurrencyHelpers
import Vapor
import VisionEngine

/// Reads image-route bodies as they stream in, within what the route can need: a body past
/// its limit is refused from `Content-Length` before it is read, or as soon as it grows
/// past the limit; a multipart body stops at the part past the batch limit.
enum RequestBodyReader {
    static let imageSlack = 64 * 1024
    /// One training image (raw bytes).
    static let trainingImage = ImageDecoder.trainingMaxBytes + imageSlack
    /// A multipart batch: 64 images of up to 6 MB with their part headers.
    static let trainingMultipart = ImageIngestor.maxBatch * (ImageDecoder.trainingMaxBytes + imageSlack)
    /// `images/files`: 64 images of up to 6 MB, base64 in JSON (4/3 larger), plus tags and regions.
    static let trainingFiles = ImageIngestor.maxBatch * (ImageDecoder.trainingMaxBytes / 3 * 4 + imageSlack) + 1024 * 1024
    /// A prediction or quick test: one image of up to 4 MB. Bodies up to 6 MB are read, so
    /// that an image of 4 to 6 MB gets Custom Vision's `BadRequestImageSizeBytes`.
    static let prediction = ImageDecoder.trainingMaxBytes + imageSlack
    /// Bodies above this size count as large uploads for `UploadGate`.
    static let largeBody = 8 * 1024 * 1024

    static func tooLarge(_ limit: Int) -> CVError {
        // The rest of the body is not read: close the connection after answering.
        CVError(.payloadTooLarge, "BadRequestImageSizeBytes", "The request body is over the \(limit / 1024 / 1024) MB this operation accepts.",
                headers: ["Connection": "close"])
    }

    static func declaredLength(_ req: Request) -> Int? {
        req.headers.first(name: .contentLength).flatMap { Int($0) }
    }

    /// The whole body, at most `limit` bytes.
    static func collect(_ req: Request, limit: Int) async throws -> ByteBuffer {
        if let n = declaredLength(req), n > limit { throw tooLarge(limit) }
        do {
            return try await req.body.collect(max: limit).get() ?? ByteBuffer()
        } catch let e as AbortError where e.status == .payloadTooLarge {
            throw tooLarge(limit)
        }
    }

    /// The parts of a multipart body, each made a `T` by `convert`: counted while it streams
    /// in, then joined, split and converted as `account`'s work on the upload decode pool
    /// (at nice 10): hundreds of megabytes of copying would otherwise hold an event loop or
    /// a Swift concurrency thread, and every other request with it. At most `maxParts` parts
    /// and `limit` bytes, refused at the first part or byte beyond.
    static func multipart<T: Sendable>(_ req: Request, boundary: MultipartBoundary, maxParts: Int, limit: Int, account: UUID,
                                       convert: @escaping @Sendable (MultipartPart) -> T) async throws -> [T] {
        if let n = declaredLength(req), n > limit { throw tooLarge(limit) }
        let collector = PartCollector(boundary: boundary, maxParts: maxParts, limit: limit)
        let loop = req.eventLoop
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            let once = NIOLockedValueBox(false)
            @Sendable func finish(_ error: Error?) {
                guard once.withLockedValue({ done in defer { done = true }; return !done }) else { return }
                if let error { c.resume(throwing: error) } else { c.resume() }
            }
            req.body.drain { result in
                switch result {
                case .buffer(let chunk):
                    if let error = collector.feed(chunk) { finish(error); return loop.makeFailedFuture(error) }
                    return loop.makeSucceededVoidFuture()
                case .error(let error):
                    finish(error)
                    return loop.makeSucceededVoidFuture()
                case .end:
                    finish(collector.refusal)
                    return loop.makeSucceededVoidFuture()
                }
            }
        }
        return try await req.application.decodePool.run(account: account) {
            try parts(collector.joined(), boundary: boundary, maxParts: maxParts).map(convert)
        }
    }

    /// The parts of a multipart body already in memory, at most `maxParts`.
    static func parts(_ body: ByteBuffer, boundary: MultipartBoundary, maxParts: Int = ImageIngestor.maxBatch) throws -> [MultipartPart] {
        do { return try MultipartBody.parts(body, boundary: boundary, maxParts: maxParts) } catch let e as MultipartBody.Failure {
            throw e == .tooManyParts ? tooManyParts(maxParts) : unreadable
        }
    }

    static let unreadable = CVError.badRequest("BadRequestImageStream", "The multipart body cannot be read.")
    static func tooManyParts(_ maxParts: Int) -> CVError {
        CVError.badRequest("BadRequestImageBatch", "A batch holds at most \(maxParts) images.")
    }

    /// Keeps a streaming multipart body within its limits: bytes, and parts counted by
    /// their delimiters as they arrive (so a batch is refused at its first part too many).
    /// Chunks are kept as they came: growing one buffer would copy hundreds of megabytes on
    /// the event loop each time it doubles.
    private final class PartCollector: @unchecked Sendable {
        private let delimiter: [UInt8]
        private let maxParts: Int, limit: Int
        private var chunks: [ByteBuffer] = []
        /// The last bytes seen, shorter than a delimiter: one may straddle two chunks.
        private var tail: [UInt8] = []
        private var delimiters = 0, received = 0
        /// Whether the body opens with `--boundary` (no line break before it, so that first
        /// delimiter is not counted): then n parts have n counted delimiters, else n + 1.
        private var opensBare = false

        init(boundary: MultipartBoundary, maxParts: Int, limit: Int) {
            delimiter = MultipartBody.delimiter(boundary)
            self.maxParts = maxParts; self.limit = limit
        }

        /// Why the body is refused, once it is; the rest is then read without keeping it,
        /// so that the client, still sending, gets the answer.
        private(set) var refusal: Error?

        /// An error that ends reading at once (the body is over its limit), else nil.
        func feed(_ chunk: ByteBuffer) -> Error? {
            received += chunk.readableBytes
            guard received <= limit else { return RequestBodyReader.tooLarge(limit) }
            guard refusal == nil else { return nil }
            if chunks.isEmpty {
                let dashBoundary = Array(delimiter.dropFirst(2))
                opensBare = chunk.getBytes(at: chunk.readerIndex, length: min(dashBoundary.count, chunk.readableBytes)) == dashBoundary
            }
            chunks.append(chunk)
            let keep = delimiter.count - 1
            // Delimiters that start in the tail and end in this chunk, then those inside it.
            let joint = tail + chunk.getBytes(at: chunk.readerIndex, length: min(keep, chunk.readableBytes))!
            delimiters += joint.withUnsafeBytes { raw in
                var n = 0, at = 0
                while let found = MultipartBody.find(delimiter, in: raw, from: at), found < tail.count { n += 1; at = found + 1 }
                return n
            }
            delimiters += chunk.withUnsafeReadableBytes { MultipartBody.countDelimiters($0, delimiter: delimiter) }
            tail = Array((tail + chunk.getBytes(at: chunk.readerIndex + max(0, chunk.readableBytes - keep), length: min(keep, chunk.readableBytes))!).suffix(keep))
            // Refused at the delimiter that ends part maxParts + 1 (until the bytes after it
            // arrive, a closing delimiter looks like one that opens another part).
            if delimiters > (opensBare ? maxParts : maxParts + 1) {
                refusal = RequestBodyReader.tooManyParts(maxParts)
                chunks = []
            }
            return nil
        }

        /// The body in one buffer (one copy; the chunks are let go as it is made).
        func joined() -> ByteBuffer {
            if chunks.count == 1 { return chunks.removeFirst() }
            var body = ByteBufferAllocator().buffer(capacity: chunks.reduce(0) { $0 + $1.readableBytes })
            for chunk in chunks { body.writeImmutableBuffer(chunk) }
            chunks = []
            return body
        }
    }
}

/// At most `perAccount` large uploads of one account are read at once; more answer 429, so
/// that one tenant cannot hold gigabytes of request bodies in memory.
final class UploadGate: @unchecked Sendable {
    static let shared = UploadGate(perAccount: 2)
    let perAccount: Int
    private let lock = NIOLock()
    private var inFlight: [UUID: Int] = [:]

    init(perAccount: Int) { self.perAccount = perAccount }

    /// Runs `body` holding one of `account`'s slots when the request is large.
    func admit<T>(_ req: Request, account: UUID, _ body: () async throws -> T) async throws -> T {
        let large = RequestBodyReader.declaredLength(req).map { $0 > RequestBodyReader.largeBody } ?? true
        guard large else { return try await body() }
        let entered = lock.withLock { () -> Bool in
            guard inFlight[account, default: 0] < perAccount else { return false }
            inFlight[account, default: 0] += 1
            return true
        }
        guard entered else {
            throw CVError(.tooManyRequests, "TooManyRequests",
                          "This account already has \(perAccount) large uploads in progress; retry when one finishes.",
                          headers: ["Retry-After": "2", "Connection": "close"])   // its body is not read
        }
        defer { lock.withLock { inFlight[account, default: 1] -= 1; if inFlight[account] == 0 { inFlight[account] = nil } } }
        return try await body()
    }
}
