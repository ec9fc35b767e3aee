import Foundation
import NIOHTTP1

/// One blob uploaded in parts (CreateMultipartUpload, UploadPart, CompleteMultipartUpload):
/// a large export is sent in pieces that are retried on their own, and an upload that fails
/// is aborted so the store keeps no orphaned parts.
struct S3MultipartUpload {
    let store: S3BlobStore
    let key: String

    func upload(_ data: Data) async throws {
        let (status, _, created) = try await store.send(.POST, key: key, query: [("uploads", "")],
                                                        headers: [("content-type", "application/octet-stream")])
        guard status == .ok, let id = S3ListPage.element("UploadId", in: String(decoding: created, as: UTF8.self)) else {
            throw S3BlobStore.failure("CreateMultipartUpload", status, created)
        }
        let uploadID = S3ListPage.unescape(id)
        do {
            var parts: [(number: Int, etag: String)] = []
            var offset = 0
            while offset < data.count {
                let end = min(data.count, offset + store.partSize)
                let number = parts.count + 1
                let part = data.subdata(in: offset..<end)
                let (status, headers, body) = try await store.send(
                    .PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: part)
                guard status == .ok, let etag = headers.first(name: "ETag") else { throw S3BlobStore.failure("UploadPart", status, body) }
                parts.append((number, etag))
                offset = end
            }
            let list = parts.map { "<Part><PartNumber>\($0.number)</PartNumber><ETag>\(Self.escape($0.etag))</ETag></Part>" }.joined()
            let xml = Data("<CompleteMultipartUpload>\(list)</CompleteMultipartUpload>".utf8)
            let (status, _, body) = try await store.send(.POST, key: key, query: [("uploadId", uploadID)], body: xml,
                                                         headers: [("content-type", "application/xml")])
            // A completion can fail after its 200 has started: the body then holds an <Error>.
            guard status == .ok, !String(decoding: body.prefix(4096), as: UTF8.self).contains("<Error>") else {
                throw S3BlobStore.failure("CompleteMultipartUpload", status, body)
            }
        } catch {
            _ = try? await store.send(.DELETE, key: key, query: [("uploadId", uploadID)])
            throw error
        }
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
