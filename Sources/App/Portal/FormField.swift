import MultipartKit
import Vapor

/// One field of a form body, found without decoding the rest: the CSRF check runs before
/// anything else and must cost no more than a scan of the body.
enum FormField {
    static func value(_ name: String, in body: ByteBuffer, type: HTTPMediaType?) throws -> String? {
        if let boundary = try MultipartBoundary.of(type) {
            let parts = try RequestBodyReader.parts(body, boundary: boundary, maxParts: RequestShapeGuard.maxFields)
            return parts.first { $0.name == name }.map { String(buffer: $0.body) }
        }
        return urlEncoded(name, in: body.readableBytesView)
    }

    /// The first `name=value` pair's value, `+` and percent escapes decoded.
    static func urlEncoded<C: Collection>(_ name: String, in bytes: C) -> String? where C.Element == UInt8, C.SubSequence: Collection {
        func decoded<S: Collection>(_ part: S) -> String? where S.Element == UInt8 {
            String(decoding: part, as: UTF8.self).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            guard let eq = pair.firstIndex(of: UInt8(ascii: "=")), eq != pair.startIndex,
                  decoded(pair[pair.startIndex..<eq]) == name else { continue }
            return decoded(pair[pair.index(after: eq)...])
        }
        return nil
    }
}
