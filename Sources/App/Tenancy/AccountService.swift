import Fluent
import Vapor

/// Keys shown once, right after they are made.
struct IssuedKeys: Content {
    var training: [String]
    var prediction: [String]
}

/// Resource accounts: creation with keys, rename, delete, key rotation, tier changes.
struct AccountService {
    let db: Database

    static let selfServiceTiers = ["F0", "S0"]

    static func validName(_ n: String) -> Bool {
        guard n.count >= 2, n.count <= 64, let f = n.first, f.isLetter || f.isNumber else { return false }
        return n.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == " ") }
    }

    func list(owner: User) async throws -> [Account] {
        try await Account.query(on: db).filter(\.$ownerID == owner.id!).sort(\.$createdAt).all()
    }

    /// The account if `user` owns it; otherwise 404 as if it did not exist.
    func find(owner: User, id: String) async throws -> Account {
        guard let uuid = UUID(uuidString: id), let a = try await Account.find(uuid, on: db),
              a.ownerID == owner.id else { throw Abort(.notFound) }
        return a
    }

    func create(owner: User, name rawName: String, tier: String, allowAnyTier: Bool = false) async throws -> (Account, IssuedKeys) {
        let name = rawName.trimmingCharacters(in: .whitespaces)
        guard Self.validName(name) else {
            throw CVError.badRequest("BadRequest", "Account names have 2 to 64 letters, digits, spaces, '-' or '_'.")
        }
        guard allowAnyTier || Self.selfServiceTiers.contains(tier),
              try await Tier.query(on: db).filter(\.$code == tier).first() != nil else {
            throw CVError.badRequest("BadRequest", "Unknown tier '\(tier.prefix(32))'.")
        }
        let account = Account()
        account.ownerID = owner.id!
        account.name = name
        let slug = name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        account.resourceName = String(slug) + "-" + AccountKey.generateSecret().prefix(6)
        account.setTier(tier)
        let issued: IssuedKeys
        do {
            issued = try await db.transaction { tx in
                try await account.create(on: tx)
                var keys = IssuedKeys(training: [], prediction: [])
                for kind in KeyKind.allCases {
                    for slot in 1...2 {
                        let secret = try await storeKey(account: account, kind: kind, slot: slot, on: tx)
                        if kind == .training { keys.training.append(secret) } else { keys.prediction.append(secret) }
                    }
                }
                return keys
            }
        } catch let e as DatabaseError where e.isConstraintFailure {
            throw CVError(.conflict, "Conflict", "You already have a free (F0) account; only one is allowed per user.")
        }
        return (account, issued)
    }

    func rename(_ account: Account, to rawName: String) async throws {
        defer { AccessCache.shared.invalidateAll() }  // keys, tiers and limits changed
        let name = rawName.trimmingCharacters(in: .whitespaces)
        guard Self.validName(name) else {
            throw CVError.badRequest("BadRequest", "Account names have 2 to 64 letters, digits, spaces, '-' or '_'.")
        }
        account.name = name
        try await account.save(on: db)
    }

    func delete(_ account: Account) async throws {
        defer { AccessCache.shared.invalidateAll() }  // keys, tiers and limits changed
        let projects = try await Project.query(on: db).filter(\.$accountID == account.id!).count()
        guard projects == 0 else {
            throw CVError(.conflict, "Conflict", "Delete the account's \(projects) project(s) first.")
        }
        try await db.transaction { tx in
            try await AccountKey.query(on: tx).filter(\.$accountID == account.id!).delete()
            try await AccountOverride.query(on: tx).filter(\.$accountID == account.id!).delete()
            try await QuotaUsage.query(on: tx).filter(\.$accountID == account.id!).delete()
            try await account.delete(on: tx)
        }
    }

    /// Replaces one key and returns the new secret (the only time it is shown).
    func regenerate(_ account: Account, kind: KeyKind, slot: Int) async throws -> String {
        defer { AccessCache.shared.invalidateAll() }  // keys, tiers and limits changed
        guard (1...2).contains(slot) else { throw Abort(.notFound) }
        return try await db.transaction { tx in
            try await AccountKey.query(on: tx).filter(\.$accountID == account.id!)
                .filter(\.$kindRaw == kind.rawValue).filter(\.$slot == slot).delete()
            return try await storeKey(account: account, kind: kind, slot: slot, on: tx)
        }
    }

    func keys(of account: Account) async throws -> [AccountKey] {
        try await AccountKey.query(on: db).filter(\.$accountID == account.id!).all()
            .sorted { $0.kindRaw == $1.kindRaw ? $0.slot < $1.slot : $0.kindRaw > $1.kindRaw }  // training 1, 2, prediction 1, 2
    }

    func changeTier(_ account: Account, to tier: String) async throws {
        defer { AccessCache.shared.invalidateAll() }  // keys, tiers and limits changed
        guard try await Tier.query(on: db).filter(\.$code == tier).first() != nil else {
            throw CVError.badRequest("BadRequest", "Unknown tier '\(tier.prefix(32))'.")
        }
        account.setTier(tier)
        do { try await account.save(on: db) } catch let e as DatabaseError where e.isConstraintFailure {
            throw CVError(.conflict, "Conflict", "The owner already has a free (F0) account.")
        }
    }

    /// The account a key belongs to, if the key is of the right kind.
    static func authenticate(key: String, kind: KeyKind, on db: Database) async throws -> Account? {
        guard !key.isEmpty, key.count <= 256 else { return nil }
        guard let k = try await AccountKey.query(on: db).filter(\.$keyHash == AccountKey.hash(key))
            .filter(\.$kindRaw == kind.rawValue).first() else { return nil }
        return try await Account.find(k.accountID, on: db)
    }

    private func storeKey(account: Account, kind: KeyKind, slot: Int, on db: Database) async throws -> String {
        let secret = AccountKey.generateSecret()
        let key = AccountKey()
        key.accountID = account.id!
        key.kindRaw = kind.rawValue
        key.slot = slot
        key.keyHash = AccountKey.hash(secret)
        key.hint = String(secret.suffix(4))
        try await key.create(on: db)
        return secret
    }
}
