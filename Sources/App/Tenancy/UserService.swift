import Fluent
import Vapor

/// Sign-up, sign-in with throttling, and admin creation.
struct UserService {
    let db: Database
    let threadPool: NIOThreadPool

    /// Failed sign-ins allowed per window, per email and per client address.
    static let maxFailuresPerEmail = 5
    static let maxFailuresPerClient = 20
    static let window: TimeInterval = 15 * 60

    static func normalise(email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    static func validEmail(_ e: String) -> Bool {
        let parts = e.split(separator: "@", omittingEmptySubsequences: false)
        return e.count <= 254 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !e.contains(where: { $0.isWhitespace }) && !TextRules.hasControlCharacters(e)
    }

    func create(email rawEmail: String, password: String, isAdmin: Bool = false) async throws -> User {
        let email = Self.normalise(email: rawEmail)
        guard Self.validEmail(email) else { throw CVError.badRequest("BadRequest", "Enter a valid email address.") }
        guard password.count >= 8, password.count <= 1024 else {
            throw CVError.badRequest("BadRequest", "Passwords need at least 8 characters.")
        }
        if try await User.query(on: db).filter(\.$email == email).first() != nil {
            throw CVError(.conflict, "Conflict", "An account with this email already exists.")
        }
        let hash = try await threadPool.runIfActive { try PasswordHasher.hash(password) }
        let user = User(email: email, passwordHash: hash, isAdmin: isAdmin)
        do { try await user.create(on: db) } catch let e as DatabaseError where e.isConstraintFailure {
            throw CVError(.conflict, "Conflict", "An account with this email already exists.")
        }
        return user
    }

    /// Verifies a password. Throttled per email and per client: after too many failures
    /// within the window, even a right password is refused with 429 until it passes.
    func signIn(email rawEmail: String, password: String, client: String) async throws -> User {
        let email = Self.normalise(email: rawEmail)
        let since = Date().addingTimeInterval(-Self.window)
        let emailKey = "email:\(email)", clientKey = "client:\(client)"
        let emailFailures = try await SignInFailure.query(on: db).filter(\.$key == emailKey).filter(\.$at > since).count()
        let clientFailures = try await SignInFailure.query(on: db).filter(\.$key == clientKey).filter(\.$at > since).count()
        if emailFailures >= Self.maxFailuresPerEmail || clientFailures >= Self.maxFailuresPerClient {
            throw CVError(.tooManyRequests, "TooManyRequests",
                          "Too many failed sign-ins. Wait 15 minutes and try again.")
        }
        let user = try await User.query(on: db).filter(\.$email == email).first()
        let stored = user?.passwordHash
        let ok = try await threadPool.runIfActive { () -> Bool in
            // Hash even for unknown emails so timing does not reveal which exist.
            stored.map { PasswordHasher.verify(password, encoded: $0) } ?? { _ = try? PasswordHasher.hash(password); return false }()
        }
        guard ok, let user else {
            let now = Date()
            try await SignInFailure(key: emailKey, at: now).create(on: db)
            try await SignInFailure(key: clientKey, at: now).create(on: db)
            throw CVError(.unauthorized, "Unauthorized", "Wrong email or password.")
        }
        try await SignInFailure.query(on: db).filter(\.$key == emailKey).delete()
        return user
    }

    /// Makes (or promotes) an admin and issues an admin API token; returns the token.
    func createAdmin(email: String, password: String) async throws -> String {
        let normalised = Self.normalise(email: email)
        let user: User
        if let existing = try await User.query(on: db).filter(\.$email == normalised).first() {
            existing.isAdmin = true
            existing.passwordHash = try await threadPool.runIfActive { try PasswordHasher.hash(password) }
            try await existing.save(on: db)
            user = existing
        } else {
            user = try await create(email: email, password: password, isAdmin: true)
        }
        return try await issueAdminToken(for: user)
    }

    func issueAdminToken(for user: User) async throws -> String {
        let secret = "sla_" + AccountKey.generateSecret() + AccountKey.generateSecret()
        let token = AdminToken()
        token.userID = user.id!
        token.tokenHash = AccountKey.hash(secret)
        try await token.create(on: db)
        return secret
    }
}
