import Vapor

/// A multipart body's boundary, checked against RFC 2046 before any parser exists:
/// 1 to 70 characters from `bchars`, not ending in a space. MultipartKit's parser traps on
/// an empty boundary, so no code path may build one from an unchecked string.
struct MultipartBoundary: Sendable, Equatable {
    let value: String

    /// DIGIT / ALPHA / ' ( ) + _ , - . / : = ? and the space (not last).
    private static let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ".unicodeScalars)

    init?(_ raw: String) {
        let scalars = raw.unicodeScalars
        guard (1...70).contains(scalars.count), scalars.last != " ",
              scalars.allSatisfy({ Self.allowed.contains($0) }) else { return nil }
        value = raw
    }

    static let invalid = CVError.badRequest(
        "BadRequestImageStream", "The multipart body has no valid boundary: it needs 1 to 70 letters, digits or ' ( ) + _ , - . / : = ? (RFC 2046).")

    /// The boundary of a multipart content type; nil when the type is not multipart.
    /// Throws when it is multipart without a valid boundary.
    static func of(_ type: HTTPMediaType?) throws -> MultipartBoundary? {
        guard let type, type.type.lowercased() == "multipart" else { return nil }
        guard let raw = type.parameters["boundary"], let boundary = MultipartBoundary(raw) else { throw invalid }
        return boundary
    }

    /// The boundary of a request that must be multipart.
    static func required(_ req: Request) throws -> MultipartBoundary {
        guard let boundary = try of(req.headers.contentType) else {
            throw CVError.badRequest("BadRequestImageStream", "The body must be multipart/form-data.")
        }
        return boundary
    }
}
