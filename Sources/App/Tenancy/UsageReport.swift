import Fluent
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
        var lines: [Line] = []
        for q in Quota.allCases {
            let o = overrides[q.rawValue]
            var line = Line(name: q.rawValue, label: q.label, used: nil, limit: o != nil ? o!.value : tier.limit(q),
                            tierLimit: tier.limit(q), overridden: o != nil, perProject: nil)
            switch q {
            case .projects, .predictionsPerMonth:
                line.used = try await QuotaLedger.used(q, account: account, on: db)
            case .tagsPerProject, .imagesPerProject, .iterationsPerProject, .storedPredictionsPerProject:
                var per: [ProjectUsage] = []
                for p in projects {
                    // Stored predictions are counted as rows; the others have ledger counters.
                    let used = q == .storedPredictionsPerProject
                        ? try await StoredPrediction.query(on: db).filter(\.$projectID == p.id!).count()
                        : try await QuotaLedger.used(q, account: account, project: p.id, on: db)
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
