import Vapor

/// Refuses, before any route or decoder sees it, a request whose shape alone could crash
/// or stall the server: a multipart content type without a valid boundary (MultipartKit
/// traps on an empty one), and query strings or URL-encoded bodies with more fields than
/// any form has (Vapor's URL-encoded decoder is quadratic in repeated keys; the portal's
/// forms use it, the APIs do not).
struct RequestShapeGuard: AsyncMiddleware {
    /// More than any portal form (a gallery page selects 48 images) or API query sends.
    static let maxFields = 1_000
    /// URL-encoded bodies are forms, never uploads.
    static let maxFormBytes = 1024 * 1024

    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        _ = try MultipartBoundary.of(request.headers.contentType)
        if let query = request.url.query, Self.fieldCount(query.utf8) > Self.maxFields {
            throw CVError.badRequest("BadRequest", "The query string has more than \(Self.maxFields) parameters.")
        }
        // The APIs read JSON, multipart and raw bytes only (curl labels a raw image as a form).
        if !ErrorResponder.isAPI(request.url.path), let type = request.headers.contentType, type.type.lowercased() == "application",
           type.subType.lowercased() == "x-www-form-urlencoded" {
            if request.body.data == nil {
                if let n = RequestBodyReader.declaredLength(request), n > Self.maxFormBytes { throw Self.formTooLarge }
                do { _ = try await request.body.collect(max: Self.maxFormBytes).get() } catch let e as AbortError where e.status == .payloadTooLarge {
                    throw Self.formTooLarge
                }
            }
            if let body = request.body.data, Self.fieldCount(body.readableBytesView) > Self.maxFields {
                throw CVError.badRequest("BadRequest", "The form has more than \(Self.maxFields) fields.")
            }
        }
        return try await next.respond(to: request)
    }

    static let formTooLarge = CVError(.payloadTooLarge, "BadRequest", "The form is over the 1 MB a form may send.",
                                      headers: ["Connection": "close"])

    /// `a=1&b=2` has two fields; counted without decoding anything.
    static func fieldCount<C: Collection>(_ bytes: C) -> Int where C.Element == UInt8 {
        bytes.isEmpty ? 0 : 1 + bytes.lazy.filter { $0 == UInt8(ascii: "&") }.count
    }
}
