import Fluent
import SQLKit
import Vapor

/// The portal's admin area: the tier catalogue as one comparison table (add, edit,
/// compare), accounts with search, tier, overrides and usage, users, and the audit log
/// as a readable table of what changed. Same service calls as the admin API.
struct AdminPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let a = routes.grouped("admin").grouped(RequireAdmin())
        a.get(use: tiers)
        a.post("tiers", use: createTier)
        a.post("tiers", ":code", use: updateTier)
        a.post("tier-versions", use: applyTierVersion)
        a.get("users", use: users)
        a.get("accounts", use: accounts)
        a.get("accounts", ":id", use: account)
        a.post("accounts", ":id", "tier", use: setTier)
        a.post("accounts", ":id", "overrides", use: setOverrides)
        a.get("audit", use: audit)
    }

    private func admin(_ req: Request) -> AdminService { AdminService(db: req.db, actor: req.portalUser!) }

    private func subnav(_ here: String) -> HNode {
        func item(_ label: String, _ href: String, id: String) -> HNode {
            H.el("a", [("href", href), ("id", id)] + (href == here ? [("aria-current", "page")] : []), [H.text(label)])
        }
        return H.el("nav", [("class", "tabs"), ("aria-label", "Admin")], [
            item("Tiers", "/admin", id: "admin-tiers"), item("Accounts", "/admin/accounts", id: "admin-accounts"),
            item("Users", "/admin/users", id: "admin-users"), item("Audit log", "/admin/audit", id: "admin-audit"),
        ])
    }

    /// Form fields → LimitPatch. Empty = unlimited (tiers) or no override (overrides);
    /// "unlimited" = an unlimited override.
    private func patch(from req: Request, emptyMeans: LimitPatch.Value, flagField: String = objectDetectionFlag) throws -> LimitPatch {
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
        if let raw = try? req.content.get(String.self, at: flagField) {
            od = raw == "on" || raw == "true" ? .number(1) : raw == "false" || raw == "off" ? .number(0) : raw.isEmpty ? emptyMeans : nil
        } else if emptyMeans == .null, (try? req.content.get(String.self, at: "objectDetectionPresent")) != nil {
            od = .number(0)  // an unchecked box on the tier editor
        }
        return LimitPatch(limits: limits, objectDetection: od)
    }

    func tiers(req: Request) async throws -> Response {
        try await tiersPage(req)
    }

    private func tiersPage(_ req: Request, flash: String? = nil, error: String? = nil, status: HTTPResponseStatus = .ok) async throws -> Response {
        let csrf = req.csrfToken
        let tiers = try await Tier.query(on: req.db).sort(\.$code).all()
        // One column per tier; each column's inputs belong to that tier's form (the
        // `form` attribute), so the whole catalogue reads and edits as one table.
        let forms: [HNode] = tiers.map { t in
            H.form(action: "/admin/tiers/\(t.code)", csrf: csrf, id: "tier-form-\(t.code)", [
                H.void("input", [("type", "hidden"), ("name", "objectDetectionPresent"), ("value", "1")]),
            ])
        }
        var rows: [[HNode]] = Quota.allCases.map { q in
            [H.text(q.label)] + tiers.map { t in
                H.void("input", [("type", "text"), ("inputmode", "numeric"), ("name", q.rawValue), ("form", "tier-form-\(t.code)"), ("class", "small"),
                                 ("value", t.limit(q).map(String.init) ?? ""), ("id", "\(t.code)-\(q.rawValue)"), ("placeholder", "unlimited"),
                                 ("aria-label", "\(q.label) for \(t.code)")])
            }
        }
        rows.append([H.text("Object detection (preview)")] + tiers.map { t in
            H.void("input", [("type", "checkbox"), ("name", "\(objectDetectionFlag)-\(t.code)"), ("form", "tier-form-\(t.code)"), ("id", "\(t.code)-objectDetection"),
                             ("aria-label", "Object detection for \(t.code)")] + (t.objectDetection ? [("checked", "checked")] : []))
        })
        rows.append([H.text("")] + tiers.map { t in
            H.el("button", [("type", "submit"), ("form", "tier-form-\(t.code)"), ("id", "save-\(t.code)")], [H.text("Save \(t.code)")])
        })
        let table = H.el("div", [("class", "table-wrap")], [
            H.el("table", [("id", "tier-table")], [
                H.el("thead", [], [H.el("tr", [], [H.el("th", [("scope", "col")], [H.text("Limit")])] + tiers.map { t in
                    H.el("th", [("scope", "col"), ("id", "tier-\(t.code)")], [H.text("\(t.code) — \(t.name)")])
                })]),
                H.el("tbody", [], rows.map { r in H.el("tr", [], [H.el("th", [("scope", "row")], [r[0]])] + r.dropFirst().map { H.el("td", [], [$0]) }) }),
            ]),
        ])
        let add = H.el("div", [("class", "panel")], [
            H.el("h2", [], [H.text("Add a tier")]),
            H.form(action: "/admin/tiers", csrf: csrf, id: "add-tier", [
                H.el("div", [("class", "row")], [
                    H.field("Code", name: "code", id: "new-tier-code", extra: [("required", "required"), ("maxlength", "16"), ("pattern", "[A-Za-z0-9_-]+")]),
                    H.field("Name", name: "name", id: "new-tier-name", extra: [("required", "required"), ("maxlength", "64")]),
                    H.el("label", [], [H.text("Start from"), H.el("select", [("name", "copy"), ("id", "new-tier-copy")],
                        [H.el("option", [("value", "")], [H.text("All unlimited")])] + tiers.map { H.el("option", [("value", $0.code)], [H.text($0.code)]) })]),
                    H.button("Add tier", id: "add-tier-button"),
                ]),
            ]),
        ])
        let versions = req.application.tierVersions.all
        let history = H.el("div", [("class", "panel")], [
            H.el("h2", [], [H.text("Custom Vision's limits over time")]),
            H.el("p", [("class", "hint")], [H.text("Sets the limits a version lists on its tiers; other limits and tiers stay as they are.")]),
            H.form(action: "/admin/tier-versions", csrf: csrf, id: "tier-version", [
                H.el("div", [("class", "row")], [
                    H.el("label", [], [H.text("Version"), H.el("select", [("name", "version"), ("id", "tier-version-select")],
                        versions.map { H.el("option", [("value", $0.version)], [H.text("\($0.version) — \($0.title)")]) })]),
                    H.button("Apply", id: "apply-tier-version"),
                ]),
            ]),
        ])
        return .html(PortalLayout.page(req, title: "Tier catalogue", flash: flash, error: error, [
            subnav("/admin"),
            H.el("p", [("class", "hint")], [H.text("Leave a limit empty for unlimited. A change applies to every account on the tier at once.")]),
        ] + forms + [table] + (versions.isEmpty ? [] : [history]) + [add]), status: status)
    }

    func createTier(req: Request) async throws -> Response {
        do {
            let t = try await admin(req).createTier(code: (try? req.content.get(String.self, at: "code")) ?? "",
                                                    name: (try? req.content.get(String.self, at: "name")) ?? "",
                                                    copying: try? req.content.get(String.self, at: "copy"))
            return req.redirect(to: "/admin", flash: "Added tier \(t.code).")
        } catch let e as CVError {
            return try await tiersPage(req, error: "Tier not added: \(e.message)", status: e.status)
        }
    }

    func applyTierVersion(req: Request) async throws -> Response {
        let name = (try? req.content.get(String.self, at: "version")) ?? ""
        guard let version = req.application.tierVersions.find(name) else {
            return try await tiersPage(req, error: "No catalogue version '\(name.prefix(32))'.", status: .notFound)
        }
        let applied = try await admin(req).apply(version)
        let skipped = applied.missing.isEmpty ? "" : " (no tier \(applied.missing.joined(separator: ", ")) here)"
        return req.redirect(to: "/admin", flash: "Applied the \(version.version) limits to \(applied.tiers.map(\.code).joined(separator: ", "))\(skipped).")
    }

    func updateTier(req: Request) async throws -> Response {
        do {
            let code = req.parameters.get("code") ?? ""
            // Each tier's checkbox has its own name: the columns share one table.
            _ = try await admin(req).updateTier(code: code, patch: try patch(from: req, emptyMeans: .null, flagField: "\(objectDetectionFlag)-\(code)"))
            return req.redirect(to: "/admin", flash: "Saved tier \(code).")
        } catch let e as CVError {
            return try await tiersPage(req, error: "Not saved: \(e.message)", status: e.status)
        }
    }

    func accounts(req: Request) async throws -> Response {
        let search = String((req.query[String.self, at: "q"] ?? "").trimmingCharacters(in: .whitespaces).prefix(100))
        let needle = search.lowercased()
        let accounts = try await Account.query(on: req.db).sort(\.$createdAt).all()
        let owners = Dictionary(try await User.query(on: req.db).all().map { ($0.id!, $0.email) }, uniquingKeysWith: { a, _ in a })
        let shown = accounts.filter { a in
            needle.isEmpty || a.name.lowercased().contains(needle) || (owners[a.ownerID] ?? "").lowercased().contains(needle)
                || a.resourceID.lowercased().contains(needle) || a.tierCode.lowercased() == needle
        }.prefix(200)
        var rows: [[HNode]] = []
        for a in shown {
            let usage = try await UsageReport.make(for: a, on: req.db)
            let projects = usage.quotas.first { $0.name == Quota.projects.rawValue }
            let predictions = usage.quotas.first { $0.name == Quota.predictionsPerMonth.rawValue }
            func text(_ l: UsageReport.Line?) -> String { "\(l?.used ?? 0) / \(l?.limit.map(String.init) ?? "unlimited")" }
            rows.append([H.link(a.name, "/admin/accounts/\(a.id!.uuidString.lowercased())"), H.text(owners[a.ownerID] ?? "?"), H.text(a.tierCode),
                         H.text(text(projects)), H.text(text(predictions))])
        }
        return .html(PortalLayout.page(req, title: "Accounts", [
            subnav("/admin/accounts"),
            H.el("form", [("method", "get"), ("action", "/admin/accounts"), ("class", "row"), ("role", "search"), ("id", "account-search")], [
                H.el("label", [], [H.text("Search by name, owner, resource id or tier"),
                                   H.void("input", [("type", "search"), ("name", "q"), ("value", search), ("id", "account-search-q")])]),
                H.button("Search", id: "account-search-button", cls: "secondary"),
            ]),
            H.el("p", [("class", "hint")], [H.text("\(shown.count) of \(accounts.count) account\(accounts.count == 1 ? "" : "s")")]),
            H.el("div", [("class", "table-wrap")], [H.table(head: ["Account", "Owner", "Tier", "Projects", "Predictions this month"], rows: rows, id: "admin-account-list")]),
        ]))
    }

    func users(req: Request) async throws -> Response {
        let users = try await User.query(on: req.db).sort(\.$createdAt).all()
        var counts: [UUID: Int] = [:]
        for a in try await Account.query(on: req.db).all() { counts[a.ownerID, default: 0] += 1 }
        let rows: [[HNode]] = users.map { u in
            [H.text(u.email), H.text(u.isAdmin ? "Administrator" : "User"), H.text(String(counts[u.id!] ?? 0)),
             H.text(u.createdAt.map(PortalDates.short) ?? "")]
        }
        return .html(PortalLayout.page(req, title: "Users", [
            subnav("/admin/users"),
            H.el("p", [("class", "hint")], [H.text("Administrators are made with `sightline create-admin`; users sign up in the portal or through the admin API.")]),
            H.el("div", [("class", "table-wrap")], [H.table(head: ["Email", "Role", "Resource accounts", "Joined"], rows: rows, id: "users")]),
        ]))
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
            subnav("/admin/accounts"),
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
        return .html(PortalLayout.page(req, title: "Account \(a.name) (\(a.tierCode))", flash: flash, error: error, body))
    }

    func setTier(req: Request) async throws -> Response {
        let a = try await admin(req).findAccount(req.parameters.get("id") ?? "")
        do {
            let tier = try req.content.get(String.self, at: "tier")
            try await admin(req).setTier(account: a, tier: tier)
            return req.redirect(to: "/admin/accounts/\(a.id!.uuidString.lowercased())", flash: "Tier changed to \(tier).")
        } catch let e as CVError {
            return try await accountPage(req, a, error: e.message)
        }
    }

    func setOverrides(req: Request) async throws -> Response {
        let a = try await admin(req).findAccount(req.parameters.get("id") ?? "")
        do {
            _ = try await admin(req).setOverrides(account: a, patch: try patch(from: req, emptyMeans: .null))
            return req.redirect(to: "/admin/accounts/\(a.id!.uuidString.lowercased())", flash: "Overrides saved.")
        } catch let e as CVError {
            return try await accountPage(req, a, error: e.message)
        }
    }

    static let auditPageSize = 50

    func audit(req: Request) async throws -> Response {
        let action = String((req.query[String.self, at: "action"] ?? "").prefix(64))
        let who = String((req.query[String.self, at: "who"] ?? "").trimmingCharacters(in: .whitespaces).prefix(100)).lowercased()
        // Filtered and paged by the database: the whole log stays reachable, however long.
        func filtered() -> QueryBuilder<AuditEntry> {
            var q = AuditEntry.query(on: req.db)
            if !action.isEmpty { q = q.filter(\.$action == action) }
            if !who.isEmpty {
                // Case-insensitive on SQLite and PostgreSQL alike (LIKE is case-sensitive on
                // PostgreSQL), with the search's own % and _ taken literally.
                let pattern = "%" + who.replacingOccurrences(of: "!", with: "!!").replacingOccurrences(of: "%", with: "!%")
                    .replacingOccurrences(of: "_", with: "!_") + "%"
                q = q.group(.or) { g in
                    for column in ["actor_email", "target"] {
                        g.filter(.custom(SQLQueryString("LOWER(\(ident: column)) LIKE \(bind: pattern) ESCAPE '!'")))
                    }
                }
            }
            return q
        }
        let total = try await filtered().count()
        let pages = max(1, (total + Self.auditPageSize - 1) / Self.auditPageSize)
        let page = min(req.clampedInt("page", 1...100_000, default: 1), pages)
        let shown = try await filtered().sort(\.$at, .descending).sort(\.$id)
            .range(((page - 1) * Self.auditPageSize)..<(page * Self.auditPageSize)).all()
        let actions = try await AuditEntry.query(on: req.db).unique().all(\.$action)
        let names = try await AuditDiff.targetNames(shown.map(\.target), on: req.db)
        let rows: [[HNode]] = shown.map { e in
            [H.text(PortalDates.short(e.at)), H.text(e.actorEmail), H.text(AuditDiff.describe(action: e.action)),
             AuditDiff.targetNode(e.target, names: names),
             AuditDiff.node(before: e.beforeJSON, after: e.afterJSON)]
        }
        var query = [String]()
        if !action.isEmpty { query.append("action=" + (action.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")) }
        if !who.isEmpty { query.append("who=" + (who.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")) }
        let prefix = "/admin/audit?" + query.map { $0 + "&" }.joined()
        var pager: [HNode] = [H.text("Page \(page) of \(pages) · \(total) change\(total == 1 ? "" : "s")")]
        if page > 1 { pager.append(H.link("← Newer", prefix + "page=\(page - 1)", id: "audit-newer")) }
        if page < pages { pager.append(H.link("Older →", prefix + "page=\(page + 1)", id: "audit-older")) }
        return .html(PortalLayout.page(req, title: "Audit log", [
            subnav("/admin/audit"),
            H.el("form", [("method", "get"), ("action", "/admin/audit"), ("class", "row"), ("id", "audit-filter")], [
                H.el("label", [], [H.text("Change"), H.el("select", [("name", "action"), ("id", "audit-action")],
                    [H.el("option", [("value", "")], [H.text("All changes")])] + Array(Set(actions)).sorted().map { a in
                        H.el("option", [("value", a)] + (a == action ? [("selected", "selected")] : []), [H.text(AuditDiff.describe(action: a))])
                    })]),
                H.el("label", [], [H.text("Who or what"), H.void("input", [("type", "search"), ("name", "who"), ("value", who), ("id", "audit-who"),
                                                                             ("placeholder", "an email, a tier, or an id")])]),
                H.button("Filter", id: "audit-filter-button", cls: "secondary"),
            ]),
            H.el("div", [("class", "table-wrap")], [H.table(head: ["When", "Who", "What", "Target", "Changes"], rows: rows, id: "audit")]),
            H.el("p", [("class", "pager")], pager),
        ]))
    }
}
