import Fluent
import Vapor

/// Sign-up, sign-in with throttling, and admin creation.
struct UserService {
    let db: Database
    let threadPool: NIOThreadPool

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

    /// Verifies a password. Every attempt takes a token from the (email, client) bucket and
    /// from the client's bucket before the password is checked; a client that has failed for
    /// this email lately also takes one from the email's bucket, and a client that has not
    /// pays the email's bucket only after a wrong password, so the email's bucket never
    /// refuses the owner because of guesses from elsewhere. A right password fills the
    /// pair's bucket again. See `AttemptThrottle` for the rates.
    func signIn(email rawEmail: String, password: String, client: String) async throws -> User {
        let email = Self.normalise(email: rawEmail)
        // Nothing that cannot be an account costs a bucket row.
        guard Self.validEmail(email), password.count <= 1024 else { throw CVError(.unauthorized, "Unauthorized", "Wrong email or password.") }
        let throttle = AttemptThrottle(db: db)
        let client = AttemptThrottle.clientKey(client)
        let pairKey = "signin:\(email)|\(client)", clientKey = "signin-client:\(client)", emailKey = "signin-email:\(email)"
        // The client's bucket first: a client past its rate creates no rows for new emails.
        if let wait = try await throttle.take(clientKey, AttemptThrottle.signInClient) { throw AttemptThrottle.tooMany(wait) }
        let pair = try await throttle.takeCounting(pairKey, AttemptThrottle.signInPair)
        if let wait = pair.wait { throw AttemptThrottle.tooMany(wait) }
        let failedBefore = !pair.wasFull
        if failedBefore, let wait = try await throttle.take(emailKey, AttemptThrottle.signInEmail) { throw AttemptThrottle.tooMany(wait) }
        let user = try await User.query(on: db).filter(\.$email == email).first()
        let stored = user?.passwordHash
        let ok = try await threadPool.runIfActive { () -> Bool in
            // Hash even for unknown emails so timing does not reveal which exist.
            stored.map { PasswordHasher.verify(password, encoded: $0) } ?? { _ = try? PasswordHasher.hash(password); return false }()
        }
        guard ok, let user else {
            if !failedBefore { _ = try await throttle.take(emailKey, AttemptThrottle.signInEmail) }
            throw CVError(.unauthorized, "Unauthorized", "Wrong email or password.")
        }
        // A right password costs nothing: the pair is full again, the client and email get their token back.
        try await throttle.refill(pairKey)
        try await throttle.giveBack(clientKey, AttemptThrottle.signInClient)
        if failedBefore { try await throttle.giveBack(emailKey, AttemptThrottle.signInEmail) }
        return user
    }

    /// Sign-up from the portal: throttled per client, and the same answer (after the same
    /// work) whether or not the email is taken.
    func signUp(email rawEmail: String, password: String, client: String) async throws -> User {
        if let wait = try await AttemptThrottle(db: db).take("signup-client:\(AttemptThrottle.clientKey(client))", AttemptThrottle.signUpClient) {
            throw AttemptThrottle.tooMany(wait)
        }
        do {
            return try await create(email: rawEmail, password: password)
        } catch let e as CVError where e.status == .conflict {
            // Spend what a creation spends, then answer without saying the email exists.
            _ = try? await threadPool.runIfActive { try PasswordHasher.hash(password) }
            throw CVError(.badRequest, "BadRequest", "A user could not be created with this email and password. If you already have one, sign in.")
        }
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
        token.expiresAt = Date().addingTimeInterval(AdminToken.lifetime)
        try await token.create(on: db)
        return secret
    }
}
