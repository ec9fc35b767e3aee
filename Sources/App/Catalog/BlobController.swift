import Vapor

/// Serves blobs behind signed, expiring URLs; a tampered or expired URL gets 403.
struct BlobController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        routes.get("blobs", ":hash", use: blob)
    }

    func blob(req: Request) async throws -> Response {
        let hash = req.parameters.get("hash") ?? ""
        guard Blob.isHash(hash),
              req.application.blobSigner.verify(path: "/blobs/\(hash)", expiry: req.query[Int.self, at: "se"],
                                                signature: req.query[String.self, at: "sig"]) else {
            throw CVError(.forbidden, "Forbidden", "This link is invalid or has expired.")
        }
        let store = req.application.blobStore
        // A link outlives its row only until the row is deleted: bytes no row references are not served.
        guard try await store.exists(hash), try await BlobReferences(db: req.db).isReferenced(hash) else {
            throw CVError.notFound("NotFound", "No such file.")
        }
        let download = try await store.download(hash)
        let type = Self.mediaType(Data(download.first.readableBytesView.prefix(12)))
        let first = download.first, rest = download.rest
        let res = Response(status: .ok, body: .init(managedAsyncStream: { writer in
            try await writer.writeBuffer(first)
            try await rest { try await writer.writeBuffer($0) }
        }, count: download.length ?? -1))
        res.headers.replaceOrAdd(name: .contentType, value: type)
        if type == "application/zip" {
            res.headers.replaceOrAdd(name: .contentDisposition, value: "attachment; filename=\"sightline-export-\(hash.prefix(12)).zip\"")
        }
        res.headers.replaceOrAdd(name: .cacheControl, value: "private, max-age=3600")
        res.headers.replaceOrAdd(name: "X-Content-Type-Options", value: "nosniff")
        return res
    }

    /// From the magic bytes of the formats the ingestor accepts.
    static func mediaType(_ d: Data) -> String {
        let b = [UInt8](d.prefix(12))
        if b.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "image/png" }
        if b.starts(with: Array("GIF8".utf8)) { return "image/gif" }
        if b.starts(with: Array("BM".utf8)) { return "image/bmp" }
        if b.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return "application/zip" }   // exports
        if b.count >= 12, b[0..<4].elementsEqual("RIFF".utf8), b[8..<12].elementsEqual("WEBP".utf8) { return "image/webp" }
        return "application/octet-stream"
    }
}
