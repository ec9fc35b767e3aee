import Vapor

/// Resolves `Training-Key` / `Prediction-Key` (any header case) to an account;
/// 401 in Custom Vision's format otherwise. Also checks the API version in the path and,
/// for training keys, the training rate limit.
struct APIKeyAuthenticator: AsyncMiddleware {
    let kind: KeyKind

    static let trainingVersions: Set<String> = ["v2.0", "v2.1", "v2.2", "v3.0", "v3.1", "v3.2", "v3.3", "v3.4-preview"]
    static let predictionVersions: Set<String> = ["v2.0", "v3.0", "v3.1"]

    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        let version = request.parameters.get("version")?.lowercased() ?? ""
        let known = kind == .training ? Self.trainingVersions : Self.predictionVersions
        guard known.contains(version) else {
            throw CVError.notFound("NotFound", "API version '\(version.prefix(32))' is not supported; use one of \(known.sorted().joined(separator: ", ")).")
        }
        let header = kind == .training ? "Training-Key" : "Prediction-Key"
        guard let key = request.headers.first(name: header), !key.isEmpty, key.count <= 256,
              let account = try await AccessCache.shared.account(keyHash: AccountKey.hash(key), kind: kind, load: {
                  try await AccountService.authenticate(key: key, kind: kind, on: request.db)
              }) else {
            throw CVError.unauthorized
        }
        request.account = account
        // Every Training API call counts against the account's training rate (Azure's
        // "other API calls" TPS); prediction routes carry their own limit.
        if kind == .training {
            try await RateLimitMiddleware.check(account: account, kind: "training", quota: .trainingTransactionsPerSecond, on: request.db)
        }
        return try await next.respond(to: request)
    }
}

struct AccountStorageKey: StorageKey { typealias Value = Account }

extension Request {
    /// A v2.x call (the seed's API generation): v2 schemas where they differ.
    var isV2: Bool { parameters.get("version")?.lowercased().hasPrefix("v2.") ?? false }

    /// The account the request's API key belongs to.
    var account: Account {
        get { storage[AccountStorageKey.self]! }
        set { storage[AccountStorageKey.self] = newValue }
    }
}

extension Request {
    /// The path's project, if it belongs to the key's account; 404 NotFoundProject otherwise.
    func project() async throws -> Project {
        try await ProjectService(db: db, domains: application.domainCatalog)
            .find(account: account, id: parameters.get("projectId") ?? "")
    }
}

extension Response {
    /// A bare JSON scalar (`true`, `42`) with the JSON content type the SDK needs.
    static func jsonScalar<T: Encodable>(_ value: T) throws -> Response {
        let res = Response(status: .ok, body: .init(data: try JSONEncoder().encode(value)))
        res.headers.replaceOrAdd(name: .contentType, value: "application/json; charset=utf-8")
        return res
    }

    static var noContent: Response { Response(status: .noContent) }
}
