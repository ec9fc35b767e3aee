import Fluent
import Vapor

struct AdminUserKey: StorageKey { typealias Value = User }

/// `Authorization: Bearer <admin token>` for /admin/api.
struct AdminTokenAuthenticator: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        guard let bearer = request.headers.bearerAuthorization?.token, bearer.count <= 512,
              let token = try await AdminToken.query(on: request.db).filter(\.$tokenHash == AccountKey.hash(bearer)).first(),
              token.isValid(),
              let user = try await User.find(token.userID, on: request.db), user.isAdmin else {
            throw CVError(.unauthorized, "Unauthorized", "A valid admin token is required (Authorization: Bearer <token>).")
        }
        request.storage[AdminUserKey.self] = user
        return try await next.respond(to: request)
    }
}

/// The admin JSON API: users, accounts, tiers, overrides, usage, audit.
struct AdminAPIController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let a = routes.grouped("admin", "api").grouped(AdminTokenAuthenticator())
        a.post("users", use: createUser)
        a.post("accounts", use: createAccount)
        a.get("accounts", use: listAccounts)
        a.get("tiers", use: tiers)
        a.put("tiers", ":code", use: updateTier)
        a.get("tier-versions", use: tierVersions)
        a.post("tier-versions", ":version", "apply", use: applyTierVersion)
        a.put("accounts", ":id", "tier", use: setTier)
        a.put("accounts", ":id", "overrides", use: setOverrides)
        a.get("accounts", ":id", "usage", use: usage)
        a.get("audit", use: audit)
    }

    struct NewUser: Content { var email: String; var password: String }
    struct UserView: Content { var id: String; var email: String }
    struct NewAccount: Content { var ownerEmail: String; var name: String; var tier: String }
    struct AccountView: Content {
        var id: String, name: String, tier: String, ownerEmail: String?, resourceId: String, endpoint: String
        var trainingKeys: [String]?, predictionKeys: [String]?
    }
    struct TierChange: Content { var tier: String }
    struct AuditView: Content {
        var id: String, actor: String, action: String, target: String, before: String?, after: String?, at: Date
    }

    private func admin(_ req: Request) -> AdminService {
        AdminService(db: req.db, actor: req.storage[AdminUserKey.self]!)
    }

    private func created<T: Content>(_ value: T, _ req: Request) async throws -> Response {
        let res = try await value.encodeResponse(for: req)
        res.status = .created
        return res
    }

    func createUser(req: Request) async throws -> Response {
        let body = try req.content.decode(NewUser.self)
        let user = try await UserService(db: req.db, threadPool: req.application.threadPool)
            .create(email: body.email, password: body.password)
        try await AuditLog.record(actor: req.storage[AdminUserKey.self]!, action: "user.create", target: "user:\(user.id!.uuidString.lowercased())",
                                  before: Optional<String>.none, after: ["email": user.email], on: req.db)
        return try await created(UserView(id: user.id!.uuidString.lowercased(), email: user.email), req)
    }

    func createAccount(req: Request) async throws -> Response {
        let body = try req.content.decode(NewAccount.self)
        guard let owner = try await User.query(on: req.db).filter(\.$email == UserService.normalise(email: body.ownerEmail)).first() else {
            throw CVError.notFound("NotFound", "No user with email '\(body.ownerEmail.prefix(254))'.")
        }
        let (a, keys) = try await AccountService(db: req.db).create(owner: owner, name: body.name, tier: body.tier, allowAnyTier: true)
        try await AuditLog.record(actor: req.storage[AdminUserKey.self]!, action: "account.create", target: "account:\(a.id!.uuidString.lowercased())",
                                  before: Optional<String>.none, after: ["name": a.name, "tier": a.tierCode, "owner": owner.email], on: req.db)
        return try await created(AccountView(id: a.id!.uuidString.lowercased(), name: a.name, tier: a.tierCode, ownerEmail: owner.email,
                                             resourceId: a.resourceID, endpoint: req.application.settings.endpoint,
                                             trainingKeys: keys.training, predictionKeys: keys.prediction), req)
    }

    func listAccounts(req: Request) async throws -> [AccountView] {
        let accounts = try await Account.query(on: req.db).sort(\.$createdAt).all()
        let owners = try await User.query(on: req.db).all()
        let emails = Dictionary(owners.map { ($0.id!, $0.email) }, uniquingKeysWith: { a, _ in a })
        return accounts.map { a in
            AccountView(id: a.id!.uuidString.lowercased(), name: a.name, tier: a.tierCode, ownerEmail: emails[a.ownerID],
                        resourceId: a.resourceID, endpoint: req.application.settings.endpoint)
        }
    }

    func tiers(req: Request) async throws -> [AdminService.TierView] {
        try await admin(req).tiers()
    }

    func updateTier(req: Request) async throws -> AdminService.TierView {
        try await admin(req).updateTier(code: req.parameters.get("code") ?? "", patch: try req.content.decode(LimitPatch.self))
    }

    struct TierVersionView: Content {
        var version: String, title: String, source: String
        /// Per tier, the limits the version sets (null: unlimited).
        var tiers: [String: [String: Int?]]
    }

    func tierVersions(req: Request) async throws -> [TierVersionView] {
        req.application.tierVersions.all.map { v in
            TierVersionView(version: v.version, title: v.title, source: v.source,
                            tiers: v.tiers.mapValues { limits in Dictionary(uniqueKeysWithValues: limits.map { ($0.key.rawValue, $0.value) }) })
        }
    }

    func applyTierVersion(req: Request) async throws -> AdminService.AppliedVersion {
        let name = req.parameters.get("version") ?? ""
        guard let version = req.application.tierVersions.find(name) else {
            throw CVError.notFound("NotFound", "No tier catalogue version '\(name.prefix(32))'. Known: \(req.application.tierVersions.all.map(\.version).joined(separator: ", ")).")
        }
        return try await admin(req).apply(version)
    }

    func setTier(req: Request) async throws -> UsageReport {
        let a = try await admin(req).findAccount(req.parameters.get("id") ?? "")
        try await admin(req).setTier(account: a, tier: try req.content.decode(TierChange.self).tier)
        return try await UsageReport.make(for: a, on: req.db)
    }

    func setOverrides(req: Request) async throws -> [AdminService.OverrideView] {
        let a = try await admin(req).findAccount(req.parameters.get("id") ?? "")
        return try await admin(req).setOverrides(account: a, patch: try req.content.decode(LimitPatch.self))
    }

    func usage(req: Request) async throws -> UsageReport {
        try await UsageReport.make(for: try await admin(req).findAccount(req.parameters.get("id") ?? ""), on: req.db)
    }

    func audit(req: Request) async throws -> [AuditView] {
        try await AuditEntry.query(on: req.db).sort(\.$at, .descending).limit(1000).all().map {
            AuditView(id: $0.id!.uuidString.lowercased(), actor: $0.actorEmail, action: $0.action, target: $0.target,
                      before: $0.beforeJSON, after: $0.afterJSON, at: $0.at)
        }
    }
}
