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

    /// The parts of a multipart body, parsed while it streams in; at most `maxParts` parts
    /// and `limit` bytes, refused at the first part or byte beyond.
    static func multipart(_ req: Request, boundary: String, maxParts: Int, limit: Int) async throws -> [MultipartPart] {
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
                    finish(collector.finish())
                    return loop.makeSucceededVoidFuture()
                }
            }
        }
        return collector.parts
    }

    /// The parts of a multipart body already in memory, at most `maxParts`.
    static func parts(_ body: ByteBuffer, boundary: String, maxParts: Int = ImageIngestor.maxBatch) throws -> [MultipartPart] {
        let collector = PartCollector(boundary: boundary, maxParts: maxParts, limit: .max)
        if let error = collector.feed(body) ?? collector.finish() { throw error }
        return collector.parts
    }

    /// Feeds MultipartKit's parser chunk by chunk and keeps the finished parts.
    private final class PartCollector: @unchecked Sendable {
        private let parser: MultipartParser
        private let maxParts: Int, limit: Int
        private var received = 0
        private var headers = HTTPHeaders()
        private var current = ByteBuffer()
        private(set) var parts: [MultipartPart] = []

        init(boundary: String, maxParts: Int, limit: Int) {
            parser = MultipartParser(boundary: boundary)
            self.maxParts = maxParts; self.limit = limit
            parser.onHeader = { [unowned self] name, value in headers.add(name: name, value: value) }
            parser.onBody = { [unowned self] chunk in current.writeBuffer(&chunk) }
            parser.onPartComplete = { [unowned self] in
                parts.append(MultipartPart(headers: headers, body: current))
                headers = HTTPHeaders()
                current = ByteBuffer()
            }
        }

        /// Why the body is refused, once it is; the rest is then read without parsing it,
        /// so that the client, still sending, gets the answer.
        private var refusal: Error?

        /// An error that ends reading at once (the body is over its limit), else nil.
        func feed(_ chunk: ByteBuffer) -> Error? {
            received += chunk.readableBytes
            guard received <= limit else { return RequestBodyReader.tooLarge(limit) }
            guard refusal == nil else { return nil }
            do { try parser.execute(chunk) } catch {
                refusal = CVError.badRequest("BadRequestImageStream", "The multipart body cannot be read.")
                return nil
            }
            // A chunk is small, so at most one chunk's parts are parsed past the limit.
            if parts.count > maxParts {
                refusal = CVError.badRequest("BadRequestImageBatch", "A batch holds at most \(maxParts) images.")
                parts.removeAll()
            }
            return nil
        }

        func finish() -> Error? { refusal }
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
