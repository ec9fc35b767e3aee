import Fluent
import Vapor

/// Resource accounts: list and create, then one page per account with its endpoint,
/// resource id, usage against every quota, keys (regenerable), rename and delete.
struct AccountPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let a = routes.grouped("accounts")
        a.get(use: list)
        a.post(use: create)
        a.get(":accountId", use: show)
        a.post(":accountId", "rename", use: rename)
        a.post(":accountId", "delete", use: delete)
        a.post(":accountId", "keys", ":kind", ":slot", use: regenerate)
    }

    struct CreateForm: Content { var name: String; var tier: String }
    struct RenameForm: Content { var name: String }

    private func service(_ req: Request) -> AccountService { AccountService(db: req.db) }

    func list(req: Request) async throws -> Response {
        try await listPage(req)
    }

    private func listPage(_ req: Request, error: String? = nil, status: HTTPResponseStatus = .ok) async throws -> Response {
        let user = req.portalUser!
        let accounts = try await service(req).list(owner: user)
        let rows: [[HNode]] = accounts.map { a in
            [H.link(a.name, "/accounts/\(a.id!.uuidString.lowercased())"), H.text(a.tierCode), H.text(a.resourceName)]
        }
        let csrf = req.csrfToken
        return .html(PortalLayout.page(title: "Resource accounts", user: user, csrf: csrf, error: error, [
            accounts.isEmpty ? H.el("p", [], [H.text("No resource accounts yet. Create one to get keys.")])
                             : H.table(head: ["Name", "Tier", "Resource"], rows: rows, id: "accounts"),
            H.el("h2", [], [H.text("New resource account")]),
            H.form(action: "/accounts", csrf: csrf, id: "create-account", [
                H.field("Name", name: "name", extra: [("required", "required"), ("maxlength", "64")]),
                H.el("label", [], [H.text("Tier"), H.el("select", [("name", "tier"), ("id", "tier")], [
                    H.el("option", [("value", "F0")], [H.text("F0 (free)")]),
                    H.el("option", [("value", "S0")], [H.text("S0 (standard)")]),
                ])]),
                H.button("Create", id: "create"),
            ]),
        ]), status: status)
    }

    func create(req: Request) async throws -> Response {
        let form = try req.content.decode(CreateForm.self)
        do {
            let (account, keys) = try await service(req).create(owner: req.portalUser!, name: form.name, tier: form.tier)
            return try await page(req, account, newKeys: keys.training.enumerated().map { ("Training key \($0.offset + 1)", $0.element) }
                                  + keys.prediction.enumerated().map { ("Prediction key \($0.offset + 1)", $0.element) })
        } catch let e as CVError {
            return try await listPage(req, error: e.message, status: e.status)
        }
    }

    private func account(_ req: Request) async throws -> Account {
        try await service(req).find(owner: req.portalUser!, id: req.parameters.get("accountId") ?? "")
    }

    func show(req: Request) async throws -> Response {
        try await page(req, try await account(req))
    }

    func rename(req: Request) async throws -> Response {
        let a = try await account(req)
        do {
            try await service(req).rename(a, to: try req.content.decode(RenameForm.self).name)
            return try await page(req, a, flash: "Renamed.")
        } catch let e as CVError {
            return try await page(req, a, error: e.message, status: e.status)
        }
    }

    func delete(req: Request) async throws -> Response {
        let a = try await account(req)
        do {
            try await service(req).delete(a)
            return req.redirect(to: "/accounts")
        } catch let e as CVError {
            return try await page(req, a, error: e.message, status: e.status)
        }
    }

    func regenerate(req: Request) async throws -> Response {
        let a = try await account(req)
        guard let kind = KeyKind(rawValue: req.parameters.get("kind") ?? ""),
              let slot = req.parameters.get("slot", as: Int.self) else { throw Abort(.notFound) }
        let secret = try await service(req).regenerate(a, kind: kind, slot: slot)
        return try await page(req, a, newKeys: [("\(kind.rawValue.capitalized) key \(slot)", secret)])
    }

    /// The account page. `newKeys` are shown in full this once; afterwards only hints.
    private func page(_ req: Request, _ a: Account, newKeys: [(String, String)] = [], flash: String? = nil,
                      error: String? = nil, status: HTTPResponseStatus = .ok) async throws -> Response {
        let id = a.id!.uuidString.lowercased()
        let csrf = req.csrfToken
        let usage = try await UsageReport.make(for: a, on: req.db)
        let keys = try await service(req).keys(of: a)
        var body: [HNode] = [
            H.el("dl", [("id", "account-facts")], [
                H.el("dt", [], [H.text("Tier")]), H.el("dd", [("id", "tier-code")], [H.text(a.tierCode)]),
                H.el("dt", [], [H.text("Endpoint")]), H.el("dd", [("id", "endpoint")], [H.el("code", [], [H.text(req.application.settings.endpoint)])]),
                H.el("dt", [], [H.text("Resource id")]), H.el("dd", [("id", "resource-id")], [H.el("code", [], [H.text(a.resourceID)])]),
            ]),
        ]
        if !newKeys.isEmpty {
            body.append(H.el("div", [("class", "newkeys"), ("id", "new-keys")], [
                H.el("p", [], [H.text("Copy these keys now; they are not shown again.")]),
            ] + newKeys.map { label, key in
                H.el("p", [], [H.text("\(label): "), H.el("code", [("class", "new-key"), ("data-label", label)], [H.text(key)])])
            }))
        }
        body += try await ProjectPages.section(req, account: a, csrf: csrf)
        body.append(H.el("h2", [], [H.text("Keys")]))
        body.append(H.table(head: ["Key", "Ends with", ""], rows: keys.map { k in
            [H.text("\(k.kindRaw.capitalized) key \(k.slot)"), H.el("code", [], [H.text("…" + k.hint)]),
             H.form(action: "/accounts/\(id)/keys/\(k.kindRaw)/\(k.slot)", csrf: csrf,
                    [H.button("Regenerate", id: "regen-\(k.kindRaw)-\(k.slot)")])]
        }, id: "keys"))
        body.append(H.el("h2", [], [H.text("Usage")]))
        body.append(H.el("div", [("id", "usage")], usage.quotas.map {
            H.usageBar(label: $0.label, used: $0.used, limit: $0.limit, name: $0.name)
        }))
        body.append(H.el("h2", [], [H.text("Settings")]))
        body.append(H.form(action: "/accounts/\(id)/rename", csrf: csrf, id: "rename-form", [
            H.field("Name", name: "name", value: a.name, id: "rename-name"), H.button("Rename", id: "rename"),
        ]))
        body.append(H.form(action: "/accounts/\(id)/delete", csrf: csrf, id: "delete-form", [
            H.button("Delete account", id: "delete", cls: "danger"),
        ]))
        return .html(PortalLayout.page(title: a.name, user: req.portalUser, csrf: csrf, flash: flash, error: error, body),
                     status: status)
    }
}
