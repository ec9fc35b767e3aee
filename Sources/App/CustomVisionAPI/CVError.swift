import Vapor

/// An error in the Custom Vision wire format: `{"code": "...", "message": "..."}`.
/// The admin API uses the same shape.
struct CVError: AbortError, Sendable {
    let status: HTTPResponseStatus
    let code: String
    let message: String
    let headers: HTTPHeaders
    var reason: String { message }

    init(_ status: HTTPResponseStatus, _ code: String, _ message: String, headers: HTTPHeaders = [:]) {
        self.status = status; self.code = code; self.message = message; self.headers = headers
    }

    static func badRequest(_ code: String, _ message: String) -> CVError { CVError(.badRequest, code, message) }
    static func notFound(_ code: String, _ message: String) -> CVError { CVError(.notFound, code, message) }
    static let unauthorized = CVError(.unauthorized, "Unauthorized",
                                      "Access denied due to invalid subscription key or wrong API endpoint.")
    static let projectNotFound = CVError(.notFound, "NotFoundProject", "Project not found.")
    static let tagNotFound = CVError(.notFound, "NotFoundTag", "Tag not found.")

    static func quotaExceeded(_ e: QuotaLedger.Exceeded) -> CVError {
        let limit = e.limit.map(String.init) ?? "unlimited"
        switch e.quota {
        case .projects: return .badRequest("BadRequestExceedProjectLimit", "The project limit (\(limit)) for this account has been reached.")
        case .tagsPerProject: return .badRequest("BadRequestExceedTagPerProjectLimit", "The tag limit (\(limit)) for this project has been reached.")
        case .iterationsPerProject: return .badRequest("BadRequestExceedIterationPerProjectLimit", "The iteration limit (\(limit)) for this project has been reached.")
        case .imagesPerProject: return .badRequest("BadRequestImageExceededCount", "The image limit (\(limit)) for this project has been reached.")
        case .predictionsPerMonth: return .badRequest("BadRequestExceededQuota", "The monthly prediction quota (\(limit)) has been reached.")
        case .transactionsPerSecond, .trainingTransactionsPerSecond:
            return CVError(.tooManyRequests, "TooManyRequests", "Rate limit exceeded.", headers: ["Retry-After": "1"])
        case .storedPredictionsPerProject: return .badRequest("BadRequestExceededQuota", "The stored prediction limit (\(limit)) for this project has been reached.")
        }
    }
}
