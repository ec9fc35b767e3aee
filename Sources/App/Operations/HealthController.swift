import Fluent
import SQLKit
import Vapor

/// `/healthz` (the process answers), `/readyz` (database reachable and every
/// migration applied), `/metrics` (Prometheus).
struct HealthController: RouteCollection {
    let expectedMigrations: Int

    func boot(routes: RoutesBuilder) throws {
        routes.get("healthz") { _ in ["status": "ok"] }
        routes.get("readyz", use: ready)
        routes.get("metrics", use: metrics)
    }

    func ready(req: Request) async throws -> Response {
        do {
            let sql = req.db as! SQLDatabase
            let row = try await sql.raw("SELECT COUNT(*) AS n FROM _fluent_migrations").first()
            let applied = try row?.decode(column: "n", as: Int.self) ?? 0
            guard applied >= expectedMigrations else {
                return try await Self.status(.serviceUnavailable, "migrations pending: \(applied) of \(expectedMigrations) applied", req)
            }
            if StorageSpace.isLow(settings: req.application.settings) {
                return try await Self.status(.serviceUnavailable, "low on disk space under DATA_DIR", req)
            }
            return try await Self.status(.ok, "ready", req)
        } catch {
            return try await Self.status(.serviceUnavailable, "database unreachable", req)
        }
    }

    /// Open unless METRICS_TOKEN is set; then only with that bearer token.
    func metrics(req: Request) throws -> Response {
        if let token = req.application.settings.metricsToken {
            guard let sent = req.headers.bearerAuthorization?.token,
                  sent.utf8.count == token.utf8.count, zip(sent.utf8, token.utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
                throw CVError.unauthorized
            }
        }
        return MetricsEndpoint.response()
    }

    private static func status(_ s: HTTPResponseStatus, _ message: String, _ req: Request) async throws -> Response {
        let res = try await ["status": message].encodeResponse(for: req)
        res.status = s
        return res
    }
}
