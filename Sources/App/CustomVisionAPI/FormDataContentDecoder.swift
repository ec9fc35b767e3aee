import MultipartKit
import Vapor

/// Decodes `multipart/form-data` forms (`req.content` on a portal form sent as multipart)
/// through `MultipartBody` instead of MultipartKit's parser, which traps on some inputs: the
/// named parts become URL-encoded fields for Vapor's form decoder, within the field limit.
struct FormDataContentDecoder: ContentDecoder {
    func decode<D: Decodable>(_ decodable: D.Type, from body: ByteBuffer, headers: HTTPHeaders) throws -> D {
        guard let boundary = try MultipartBoundary.of(headers.contentType) else { throw Abort(.unsupportedMediaType) }
        let parts = try RequestBodyReader.parts(body, boundary: boundary, maxParts: RequestShapeGuard.maxFields)
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let form = parts.compactMap { part in
            part.name.map { name in
                [name, String(buffer: part.body)].map { $0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "" }.joined(separator: "=")
            }
        }.joined(separator: "&")
        return try URLEncodedFormDecoder().decode(D.self, from: form)
    }
}
