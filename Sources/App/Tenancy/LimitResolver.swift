import Fluent
import Vapor

/// Resolves an account's effective limits on every call (tier + override), so an
/// admin's change applies to the very next request.
enum LimitResolver {
    static func tier(of account: Account, on db: Database) async throws -> Tier {
        guard let tier = try await Tier.query(on: db).filter(\.$code == account.tierCode).first() else {
            throw CVError(.internalServerError, "ErrorUnknown", "Tier \(account.tierCode) is missing from the catalogue")
        }
        return tier
    }

    static func overrides(of accountID: UUID, on db: Database) async throws -> [String: AccountOverride] {
        let rows = try await AccountOverride.query(on: db).filter(\.$accountID == accountID).all()
        return Dictionary(rows.map { ($0.limitName, $0) }, uniquingKeysWith: { a, _ in a })
    }

    static func limit(_ quota: Quota, for account: Account, on db: Database) async throws -> Int? {
        if let o = try await AccountOverride.query(on: db)
            .filter(\.$accountID == account.id!).filter(\.$limitName == quota.rawValue).first() {
            return o.value
        }
        return try await tier(of: account, on: db).limit(quota)
    }

    static func objectDetectionEnabled(for account: Account, on db: Database) async throws -> Bool {
        if let o = try await AccountOverride.query(on: db)
            .filter(\.$accountID == account.id!).filter(\.$limitName == objectDetectionFlag).first() {
            return (o.value ?? 1) != 0
        }
        return try await tier(of: account, on: db).objectDetection
    }
}
