import Fluent
import FluentPostgresDriver
import FluentSQLiteDriver
import NIOCore
import Vapor

/// Turns every error into the body its caller understands: flat `{"code","message"}`
/// JSON for the Custom Vision and admin APIs, an HTML page for the portal. Never an
/// empty error body (the Azure SDK crashes on one), never a stack trace.
struct ErrorResponder: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch {
            return Self.response(for: error, request: request)
        }
    }

    static func isAPI(_ path: String) -> Bool {
        let p = path.lowercased().drop(while: { $0 == "/" })
        return p.hasPrefix("customvision") || p.hasPrefix("admin/api")
    }

    static func response(for error: Error, request: Request) -> Response {
        let (status, code, message) = describe(error)
        if status.code >= 500 {
            request.logger.report(error: error)
        } else {
            request.logger.info("request refused", metadata: ["status": "\(status.code)", "code": "\(code)"])
        }
        var headers: HTTPHeaders = (error as? AbortError)?.headers ?? [:]
        if status == .serviceUnavailable, !headers.contains(name: "Retry-After") { headers.add(name: "Retry-After", value: "5") }
        // The portal's scripts (upload, quick test) ask for JSON and show the message themselves.
        let wantsJSON = request.headers.first(name: .accept)?.lowercased().hasPrefix("application/json") == true
        if isAPI(request.url.path) || wantsJSON {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys  // stable bodies: identical errors are byte-identical
            let body = try? encoder.encode(["code": code, "message": message])
            let res = Response(status: status, headers: headers, body: .init(data: body ?? Data()))
            res.headers.replaceOrAdd(name: .contentType, value: "application/json; charset=utf-8")
            return res
        }
        let res = Response(status: status, headers: headers,
                           body: .init(string: PortalLayout.errorPage(request, status: status, message: message)))
        res.headers.replaceOrAdd(name: .contentType, value: "text/html; charset=utf-8")
        return res
    }

    static func describe(_ error: Error) -> (HTTPResponseStatus, String, String) {
        switch error {
        case let e as CVError:
            return (e.status, e.code, e.message)
        case let e as QuotaLedger.Exceeded:
            let cv = CVError.quotaExceeded(e)
            return (cv.status, cv.code, cv.message)
        case let e as DecodingError:
            return (.badRequest, "BadRequest", "The request body is not valid: \(decodingMessage(e))")
        case let e as AbortError:
            let code: String
            switch e.status.code {
            case 400: code = "BadRequest"
            case 401: code = "Unauthorized"
            case 403: code = "Forbidden"
            case 404: code = "NotFound"
            case 409: code = "Conflict"
            case 413: code = "BadRequest"
            case 415: code = "UnsupportedMediaType"
            case 429: code = "TooManyRequests"
            default: code = e.status.code >= 500 ? "ErrorUnknown" : "BadRequest"
            }
            let msg = e.status == .notFound ? "Resource not found." : e.reason
            return (e.status, code, msg)
        default:
            if isUnavailable(error) {
                return (.serviceUnavailable, "ErrorUnknown", "The service cannot reach its storage or database right now; retry shortly.")
            }
            return (.internalServerError, "ErrorUnknown", "An internal error occurred.")
        }
    }

    /// Faults of the database or the disk, not of the request: the client should retry.
    static func isUnavailable(_ error: Error) -> Bool {
        if let e = error as? PSQLError {
            guard e.code == .server else { return true }   // connection, pool, unclean shutdown
            // Connection (08), out of resources such as disk (53), operator intervention
            // (57, e.g. terminated by an administrator), database gone (3D000).
            let state = e.serverInfo?[.sqlState] ?? ""
            return ["08", "53", "57"].contains(String(state.prefix(2))) || state == "3D000"
        }
        if let e = error as? SQLiteError {
            switch e.reason {
            case .busy, .locked, .ioError, .full, .cantOpen, .readOnly: return true
            default: return false
            }
        }
        if let e = error as? DatabaseError, e.isConnectionClosed { return true }
        if error is FileBlobStore.IOFailure || error is BlobStoreUnavailable || error is IOError { return true }
        let name = String(reflecting: type(of: error))
        return ["ConnectionPool", "NIOConnectionError", "ChannelError"].contains { name.contains($0) }
    }

    private static func decodingMessage(_ e: DecodingError) -> String {
        switch e {
        case .dataCorrupted(let c): return c.debugDescription
        case .keyNotFound(let k, _): return "missing field '\(k.stringValue)'"
        case .typeMismatch(_, let c): return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case .valueNotFound(_, let c): return "missing value at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        @unknown default: return "malformed"
        }
    }
}
