import Fluent
import Vapor

/// The portal's admin area: tier catalogue editor, accounts with tier and overrides,
/// usage against every limit, audit log. Same service calls as the admin API.
struct AdminPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let a = routes.grouped("admin").grouped(RequireAdmin())
        a.get(use: tiers)
        a.post("tiers", ":code", use: updateTier)
        a.get("accounts", use: accounts)
        a.get("accounts", ":id", use: account)
        a.post("accounts", ":id", "tier", use: setTier)
        a.post("accounts", ":id", "overrides", use: setOverrides)
        a.get("audit", use: audit)
    }

    private func admin(_ req: Request) -> AdminService { AdminService(db: req.db, actor: req.portalUser!) }

    private func subnav() -> HNode {
        H.el("p", [("class", "subnav")], [H.link("Tiers", "/admin", id: "admin-tiers"), H.text(" · "),
                                          H.link("Accounts", "/admin/accounts", id: "admin-accounts"), H.text(" · "),
                                          H.link("Audit log", "/admin/audit", id: "admin-audit")])
    }

    /// Form fields → LimitPatch. Empty = unlimited (tiers) or no override (overrides);
    /// "unlimited" = an unlimited override.
    private func patch(from req: Request, emptyMeans: LimitPatch.Value) throws -> LimitPatch {
        var limits: [Quota: LimitPatch.Value] = [:]
        for q in Quota.allCases {
            guard let raw = try? req.content.get(String.self, at: q.rawValue) else { continue }
            let v = raw.trimmingCharacters(in: .whitespaces)
            if v.isEmpty { limits[q] = emptyMeans }
            else if v.lowercased() == "unlimited" { limits[q] = .unlimited }
            else if let n = Int(v), n >= 0, n <= 1_000_000_000 { limits[q] = .number(n) }
            else { throw CVError.badRequest("BadRequest", "\(q.label) must be a whole number, empty or 'unlimited'.") }
        }
        var od: LimitPatch.Value?
        if let raw = try? req.content.get(String.self, at: objectDetectionFlag) {
            od = raw == "on" || raw == "true" ? .number(1) : raw == "false" || raw == "off" ? .number(0) : raw.isEmpty ? emptyMeans : nil
        } else if emptyMeans == .null, (try? req.content.get(String.self, at: "objectDetectionPresent")) != nil {
            od = .number(0)  // an unchecked box on the tier editor
        }
        return LimitPatch(limits: limits, objectDetection: od)
    }

    func tiers(req: Request) async throws -> Response {
        try await tiersPage(req)
    }

    private func tiersPage(_ req: Request, flash: String? = nil, error: String? = nil) async throws -> Response {
        let csrf = req.csrfToken
        let tiers = try await admin(req).tiers()
        let body: [HNode] = [subnav()] + tiers.map { t in
            let tier = Tier(); tier.projects = t.projects; tier.tagsPerProject = t.tagsPerProject
            tier.imagesPerProject = t.imagesPerProject; tier.iterationsPerProject = t.iterationsPerProject
            tier.predictionsPerMonth = t.predictionsPerMonth; tier.transactionsPerSecond = t.transactionsPerSecond
            tier.storedPredictionsPerProject = t.storedPredictionsPerProject
            tier.trainingTransactionsPerSecond = t.trainingTransactionsPerSecond
            return H.el("section", [("class", "tier"), ("id", "tier-\(t.code)")], [
                H.el("h2", [], [H.text("\(t.code) — \(t.name)")]),
                H.form(action: "/admin/tiers/\(t.code)", csrf: csrf, id: "tier-form-\(t.code)",
                       Quota.allCases.map { q in
                           H.field(q.label, name: q.rawValue, value: tier.limit(q).map(String.init) ?? "",
                                   id: "\(t.code)-\(q.rawValue)", extra: [("placeholder", "unlimited")])
                       } + [
                           H.void("input", [("type", "hidden"), ("name", "objectDetectionPresent"), ("value", "1")]),
                           H.el("label", [], [H.text("Object detection (preview) "),
                                              H.void("input", [("type", "checkbox"), ("name", objectDetectionFlag), ("id", "\(t.code)-objectDetection")]
                                                     + (t.objectDetection ? [("checked", "checked")] : []))]),
                           H.button("Save \(t.code)", id: "save-\(t.code)"),
                       ]),
            ])
        }
        return .html(PortalLayout.page(title: "Tier catalogue", user: req.portalUser, csrf: csrf, flash: flash, error: error,
                                       [H.el("p", [], [H.text("Leave a limit empty for unlimited. Changes apply to every account on the tier at once.")])] + body))
    }

    func updateTier(req: Request) async throws -> Response {
        do {
            let code = req.parameters.get("code") ?? ""
            _ = try await admin(req).updateTier(code: code, patch: try patch(from: req, emptyMeans: .null))
            return try await tiersPage(req, flash: "Saved tier \(code).")
        } catch let e as CVError {
            return try await tiersPage(req, error: e.message)
        }
    }

    func accounts(req: Request) async throws -> Response {
        let accounts = try await Account.query(on: req.db).sort(\.$createdAt).all()
        let owners = Dictionary(try await User.query(on: req.db).all().map { ($0.id!, $0.email) }, uniquingKeysWith: { a, _ in a })
        let rows: [[HNode]] = accounts.map { a in
            [H.link(a.name, "/admin/accounts/\(a.id!.uuidString.lowercased())"), H.text(owners[a.ownerID] ?? "?"), H.text(a.tierCode)]
        }
        return .html(PortalLayout.page(title: "Accounts", user: req.portalUser, csrf: req.csrfToken,
                                       [subnav(), H.table(head: ["Account", "Owner", "Tier"], rows: rows, id: "admin-account-list")]))
    }

    func account(req: Request) async throws -> Response {
        try await accountPage(req, try await admin(req).findAccount(req.parameters.get("id") ?? ""))
    }

    private func accountPage(_ req: Request, _ a: Account, flash: String? = nil, error: String? = nil) async throws -> Response {
        let csrf = req.csrfToken
        let id = a.id!.uuidString.lowercased()
        let usage = try await UsageReport.make(for: a, on: req.db)
        let overrides = Dictionary(try await admin(req).overrides(of: a).map { ($0.name, $0.value) }, uniquingKeysWith: { x, _ in x })
        let tiers = try await admin(req).tiers()
        let body: [HNode] = [
            subnav(),
            H.el("p", [], [H.text("Resource id: "), H.el("code", [], [H.text(a.resourceID)])]),
            H.form(action: "/admin/accounts/\(id)/tier", csrf: csrf, id: "tier-change", [
                H.el("label", [], [H.text("Tier"), H.el("select", [("name", "tier"), ("id", "account-tier")], tiers.map { t in
                    H.el("option", [("value", t.code)] + (t.code == a.tierCode ? [("selected", "selected")] : []), [H.text(t.code)])
                })]),
                H.button("Change tier", id: "change-tier"),
            ]),
            H.el("h2", [], [H.text("Usage")]),
            H.el("div", [("id", "usage")], usage.quotas.map { H.usageBar(label: $0.label, used: $0.used, limit: $0.limit, name: $0.name) }),
            H.el("h2", [], [H.text("Overrides")]),
            H.el("p", [], [H.text("Empty = follow the tier; 'unlimited' = no limit for this account.")]),
            H.form(action: "/admin/accounts/\(id)/overrides", csrf: csrf, id: "overrides-form", Quota.allCases.map { q in
                let v: String = overrides[q.rawValue].map { $0.map(String.init) ?? "unlimited" } ?? ""
                return H.field(q.label, name: q.rawValue, value: v, id: "override-\(q.rawValue)")
            } + [H.button("Save overrides", id: "save-overrides")]),
        ]
        return .html(PortalLayout.page(title: "Account \(a.name) (\(a.tierCode))", user: req.portalUser, csrf: csrf,
                                       flash: flash, error: error, body))
    }

    func setTier(req: Request) async throws -> Response {
        let a = try await admin(req).findAccount(req.parameters.get("id") ?? "")
        do {
            try await admin(req).setTier(account: a, tier: try req.content.get(String.self, at: "tier"))
            return try await accountPage(req, a, flash: "Tier changed.")
        } catch let e as CVError {
            return try await accountPage(req, a, error: e.message)
        }
    }

    func setOverrides(req: Request) async throws -> Response {
        let a = try await admin(req).findAccount(req.parameters.get("id") ?? "")
        do {
            _ = try await admin(req).setOverrides(account: a, patch: try patch(from: req, emptyMeans: .null))
            return try await accountPage(req, a, flash: "Overrides saved.")
        } catch let e as CVError {
            return try await accountPage(req, a, error: e.message)
        }
    }

    func audit(req: Request) async throws -> Response {
        let entries = try await AuditEntry.query(on: req.db).sort(\.$at, .descending).limit(500).all()
        let rows: [[HNode]] = entries.map { e in
            [H.text(ISO8601DateFormatter().string(from: e.at)), H.text(e.actorEmail), H.text(e.action), H.text(e.target),
             H.el("code", [], [H.text(e.beforeJSON ?? "")]), H.el("code", [], [H.text(e.afterJSON ?? "")])]
        }
        return .html(PortalLayout.page(title: "Audit log", user: req.portalUser, csrf: req.csrfToken,
                                       [subnav(), H.table(head: ["When", "Who", "What", "Target", "Before", "After"], rows: rows, id: "audit")]))
    }
}
