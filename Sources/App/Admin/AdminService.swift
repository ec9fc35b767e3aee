import Fluent
import Vapor

/// What an admin may do: tier catalogue edits, account tier changes and overrides.
/// Every change is written to the audit log with its before and after state.
struct AdminService {
    let db: Database
    let actor: User

    struct TierView: Content, Equatable {
        var code: String
        var name: String
        var projects: Int?
        var tagsPerProject: Int?
        var imagesPerProject: Int?
        var iterationsPerProject: Int?
        var predictionsPerMonth: Int?
        var transactionsPerSecond: Int?
        var trainingTransactionsPerSecond: Int?
        var storedPredictionsPerProject: Int?
        var objectDetection: Bool

        init(_ t: Tier) {
            code = t.code; name = t.name; projects = t.projects; tagsPerProject = t.tagsPerProject
            imagesPerProject = t.imagesPerProject; iterationsPerProject = t.iterationsPerProject
            predictionsPerMonth = t.predictionsPerMonth; transactionsPerSecond = t.transactionsPerSecond
            trainingTransactionsPerSecond = t.trainingTransactionsPerSecond
            storedPredictionsPerProject = t.storedPredictionsPerProject
            objectDetection = t.objectDetection
        }

        /// Encodes nil limits as explicit `null` (= unlimited), not as missing keys.
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(code, forKey: .code); try c.encode(name, forKey: .name)
            try c.encode(projects, forKey: .projects); try c.encode(tagsPerProject, forKey: .tagsPerProject)
            try c.encode(imagesPerProject, forKey: .imagesPerProject)
            try c.encode(iterationsPerProject, forKey: .iterationsPerProject)
            try c.encode(predictionsPerMonth, forKey: .predictionsPerMonth)
            try c.encode(transactionsPerSecond, forKey: .transactionsPerSecond)
            try c.encode(trainingTransactionsPerSecond, forKey: .trainingTransactionsPerSecond)
            try c.encode(storedPredictionsPerProject, forKey: .storedPredictionsPerProject)
            try c.encode(objectDetection, forKey: .objectDetection)
        }
    }

    struct OverrideView: Content, Equatable {
        var name: String
        var value: Int?
    }

    func tiers() async throws -> [TierView] {
        try await Tier.query(on: db).sort(\.$code).all().map(TierView.init)
    }

    func updateTier(code: String, patch: LimitPatch) async throws -> TierView {
        defer { AccessCache.shared.invalidateAll() }  // keys, tiers and limits changed
        guard let tier = try await Tier.query(on: db).filter(\.$code == code).first() else {
            throw CVError.notFound("NotFound", "No tier '\(code.prefix(32))'.")
        }
        let before = TierView(tier)
        for (q, v) in patch.limits {
            switch v {
            case .number(let n): tier.setLimit(q, n)
            case .null, .unlimited: tier.setLimit(q, nil)
            }
        }
        if case .number(let b)? = patch.objectDetection { tier.objectDetection = b != 0 }
        try await tier.save(on: db)
        let after = TierView(tier)
        try await AuditLog.record(actor: actor, action: "tier.update", target: "tier:\(code)", before: before, after: after, on: db)
        return after
    }

    /// A new tier, starting from a copy of another's limits (or all unlimited).
    func createTier(code: String, name: String, copying source: String?) async throws -> TierView {
        defer { AccessCache.shared.invalidateAll() }
        let code = code.trimmingCharacters(in: .whitespaces), name = name.trimmingCharacters(in: .whitespaces)
        guard (1...16).contains(code.count), code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw CVError.badRequest("BadRequest", "A tier code is 1 to 16 letters, digits, '-' or '_'.")
        }
        guard TextRules.validName(name, max: 64) else { throw CVError.badRequest("BadRequest", "A tier name is 1 to 64 characters.") }
        guard try await Tier.query(on: db).filter(\.$code == code).first() == nil else {
            throw CVError(.conflict, "Conflict", "A tier '\(code)' exists already.")
        }
        let tier = Tier()
        tier.code = code
        tier.name = name
        tier.objectDetection = false
        if let source, !source.isEmpty {
            guard let from = try await Tier.query(on: db).filter(\.$code == source).first() else {
                throw CVError.notFound("NotFound", "No tier '\(source.prefix(32))' to copy.")
            }
            for q in Quota.allCases { tier.setLimit(q, from.limit(q)) }
            tier.objectDetection = from.objectDetection
        }
        try await tier.create(on: db)
        let after = TierView(tier)
        try await AuditLog.record(actor: actor, action: "tier.create", target: "tier:\(code)", before: TierView?.none, after: after, on: db)
        return after
    }

    struct AppliedVersion: Content {
        var version: String
        var tiers: [TierView]
        /// Tier codes the version names that this catalogue does not have.
        var missing: [String]
    }

    /// Sets the limits `version` names on the tiers it names, in one transaction, each tier's
    /// change audited as an update and the whole as `tier.version`.
    func apply(_ version: TierVersion) async throws -> AppliedVersion {
        defer { AccessCache.shared.invalidateAll() }
        return try await db.transaction { tx in
            let scoped = AdminService(db: tx, actor: actor)
            var tiers: [TierView] = [], missing: [String] = []
            for code in version.tiers.keys.sorted() {
                guard try await Tier.query(on: tx).filter(\.$code == code).first() != nil else { missing.append(code); continue }
                let limits = version.tiers[code]!.mapValues { $0.map(LimitPatch.Value.number) ?? .null }
                tiers.append(try await scoped.updateTier(code: code, patch: LimitPatch(limits: limits, objectDetection: nil)))
            }
            try await AuditLog.record(actor: actor, action: "tier.version", target: "tiers", before: String?.none,
                                      after: ["version": version.version], on: tx)
            return AppliedVersion(version: version.version, tiers: tiers, missing: missing)
        }
    }

    func setTier(account: Account, tier: String) async throws {
        defer { AccessCache.shared.invalidateAll() }  // keys, tiers and limits changed
        let before = account.tierCode
        try await AccountService(db: db).changeTier(account, to: tier)
        try await AuditLog.record(actor: actor, action: "account.tier", target: "account:\(account.id!.uuidString.lowercased())",
                                  before: ["tier": before], after: ["tier": tier], on: db)
    }

    func overrides(of account: Account) async throws -> [OverrideView] {
        try await AccountOverride.query(on: db).filter(\.$accountID == account.id!).sort(\.$limitName).all()
            .map { OverrideView(name: $0.limitName, value: $0.value) }
    }

    func setOverrides(account: Account, patch: LimitPatch) async throws -> [OverrideView] {
        defer { AccessCache.shared.invalidateAll() }  // keys, tiers and limits changed
        let before = try await overrides(of: account)
        let changes: [(String, LimitPatch.Value)] = patch.limits.map { ($0.key.rawValue, $0.value) }
            + (patch.objectDetection.map { [(objectDetectionFlag, $0)] } ?? [])
        try await db.transaction { tx in
            for (name, value) in changes {
                try await AccountOverride.query(on: tx).filter(\.$accountID == account.id!).filter(\.$limitName == name).delete()
                let row = AccountOverride()
                row.accountID = account.id!
                row.limitName = name
                switch value {
                case .null: continue
                case .unlimited: row.value = nil
                case .number(let n): row.value = n
                }
                try await row.create(on: tx)
            }
        }
        let after = try await overrides(of: account)
        try await AuditLog.record(actor: actor, action: "account.overrides", target: "account:\(account.id!.uuidString.lowercased())",
                                  before: before, after: after, on: db)
        return after
    }

    func findAccount(_ id: String) async throws -> Account {
        guard let uuid = UUID(uuidString: id), let a = try await Account.find(uuid, on: db) else {
            throw CVError.notFound("NotFound", "No account '\(id.prefix(64))'.")
        }
        return a
    }
}
