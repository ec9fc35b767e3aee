import Fluent
import Vapor

/// `sightline revoke-admin-token --token TOKEN` revokes one admin API token;
/// `--email EMAIL` revokes every token of that admin.
struct RevokeAdminTokenCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "token", help: "The admin API token to revoke")
        var token: String?
        @Option(name: "email", help: "Revoke every token of this admin")
        var email: String?
    }

    var help: String { "Revokes an admin API token, or all tokens of one admin." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        try await app.autoMigrate()
        let revoked = try await Self.revoke(token: signature.token, email: signature.email, on: app.db)
        context.console.output("Revoked \(String(revoked)) admin token(s).")
    }

    static func revoke(token: String?, email: String?, on db: Database) async throws -> Int {
        var q = AdminToken.query(on: db).filter(\.$revokedAt == nil)
        if let token, !token.isEmpty {
            q = q.filter(\.$tokenHash == AccountKey.hash(token))
        } else if let email, !email.isEmpty {
            guard let user = try await User.query(on: db).filter(\.$email == UserService.normalise(email: email)).first() else { return 0 }
            q = q.filter(\.$userID == user.id!)
        } else {
            throw ConfigError(message: "Usage: sightline revoke-admin-token --token TOKEN | --email EMAIL")
        }
        let rows = try await q.all()
        for row in rows { row.revokedAt = Date(); try await row.save(on: db) }
        return rows.count
    }
}
