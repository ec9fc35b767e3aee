import Fluent
import SQLKit
import Vapor

/// Used and effective limit per quota for one account.
struct UsageReport: Content {
    struct ProjectUsage: Content {
        var projectId: String
        var name: String
        var used: Int
    }
    struct Line: Content {
        var name: String
        var label: String
        /// For per-project quotas, the fullest project's count.
        var used: Int?
        var limit: Int?
        var tierLimit: Int?
        var overridden: Bool
        var perProject: [ProjectUsage]?
    }
    var accountId: String
    var tier: String
    var objectDetection: Bool
    var quotas: [Line]

    static func make(for account: Account, on db: Database) async throws -> UsageReport {
        let tier = try await LimitResolver.tier(of: account, on: db)
        let overrides = try await LimitResolver.overrides(of: account.id!, on: db)
        let projects = try await Project.query(on: db).filter(\.$accountID == account.id!).sort(\.$createdAt).all()
        // Every counter of the account, and stored predictions per project, in two statements.
        var ledger: [String: Int] = [:]
        for row in try await QuotaUsage.query(on: db).filter(\.$accountID == account.id!).all() { ledger[row.scope] = row.used }
        var stored: [UUID: Int] = [:]
        if !projects.isEmpty {
            for row in try await (db as! SQLDatabase).raw("""
                SELECT project_id, COUNT(*) AS n FROM predictions
                WHERE project_id IN (\(binds: projects.compactMap(\.id).map { $0 as any Encodable & Sendable })) GROUP BY project_id
                """).all() {
                stored[try row.decode(column: "project_id", as: UUID.self)] = try row.decode(column: "n", as: Int.self)
            }
        }
        var lines: [Line] = []
        for q in Quota.allCases {
            let o = overrides[q.rawValue]
            var line = Line(name: q.rawValue, label: q.label, used: nil, limit: o != nil ? o!.value : tier.limit(q),
                            tierLimit: tier.limit(q), overridden: o != nil, perProject: nil)
            switch q {
            case .projects, .predictionsPerMonth:
                line.used = ledger[q.scope()] ?? 0
            case .tagsPerProject, .imagesPerProject, .iterationsPerProject, .storedPredictionsPerProject:
                var per: [ProjectUsage] = []
                for p in projects {
                    // Stored predictions are counted as rows; the others have ledger counters.
                    let used = q == .storedPredictionsPerProject ? stored[p.id!] ?? 0 : ledger[q.scope(project: p.id)] ?? 0
                    per.append(.init(projectId: p.id!.uuidString.lowercased(), name: p.name, used: used))
                }
                line.perProject = per
                line.used = per.map(\.used).max() ?? 0
            case .transactionsPerSecond, .trainingTransactionsPerSecond:
                break
            }
            lines.append(line)
        }
        let od = try await LimitResolver.objectDetectionEnabled(for: account, on: db)
        return UsageReport(accountId: account.id!.uuidString.lowercased(), tier: account.tierCode,
                           objectDetection: od, quotas: lines)
    }
}
