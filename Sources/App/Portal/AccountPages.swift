import Fluent
import Vapor

/// Resource accounts: list and create (with the tiers' limits beside the choice), then
/// one page per account with its endpoint, resource id, keys (shown once, copyable;
/// regenerate with confirmation), usage bars against every limit, rename and delete.
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

    private func path(_ a: Account) -> String { "/accounts/\(a.id!.uuidString.lowercased())" }

    func list(req: Request) async throws -> Response {
        try await listPage(req)
    }

    private func listPage(_ req: Request, form: CreateForm? = nil, error: String? = nil, status: HTTPResponseStatus = .ok) async throws -> Response {
        let user = req.portalUser!
        let accounts = try await service(req).list(owner: user)
        var rows: [[HNode]] = []
        for a in accounts {
            let projects = try await Project.query(on: req.db).filter(\.$accountID == a.id!).count()
            rows.append([H.link(a.name, path(a)), H.text(a.tierCode), H.text(String(projects)), H.el("code", [], [H.text(a.resourceName)])])
        }
        let tiers = try await Tier.query(on: req.db).sort(\.$code).all()
        let csrf = req.csrfToken
        return .html(PortalLayout.page(req, title: "Resource accounts", error: error, [
            H.el("p", [("class", "hint")], [H.text("A resource account holds projects, the keys that reach them, and the limits of its tier — like an Azure Custom Vision resource.")]),
            accounts.isEmpty ? H.el("p", [("class", "panel"), ("id", "no-accounts")], [H.text("No resource accounts yet. Create one to get keys.")])
                : H.el("div", [("class", "table-wrap")], [H.table(head: ["Name", "Tier", "Projects", "Resource"], rows: rows, id: "accounts")]),
            H.el("div", [("class", "panel")], [
                H.el("h2", [], [H.text("New resource account")]),
                H.form(action: "/accounts", csrf: csrf, id: "create-account", [
                    H.field("Name", name: "name", value: form?.name ?? "", extra: [("required", "required"), ("maxlength", "64")]),
                    H.el("label", [], [H.text("Tier"), H.el("select", [("name", "tier"), ("id", "tier")], tiers.map { t in
                        H.el("option", [("value", t.code)] + (form?.tier == t.code ? [("selected", "selected")] : []), [H.text("\(t.code) — \(t.name)")])
                    })]),
                    H.button("Create", id: "create"),
                ]),
                H.el("h3", [], [H.text("What each tier allows")]),
                TierTable.node(tiers, id: "tier-limits"),
            ]),
        ]), status: status)
    }

    func create(req: Request) async throws -> Response {
        let form = try req.content.decode(CreateForm.self)
        do {
            let (account, keys) = try await service(req).create(owner: req.portalUser!, name: form.name, tier: form.tier)
            NewKeysNotice.leave(keys.training.enumerated().map { .init(label: "Training key \($0.offset + 1)", secret: $0.element) }
                                + keys.prediction.enumerated().map { .init(label: "Prediction key \($0.offset + 1)", secret: $0.element) },
                                for: account, on: req)
            return req.redirect(to: path(account), flash: "Resource account \(account.name) created.")
        } catch let e as CVError {
            return try await listPage(req, form: form, error: "The account was not created: \(e.message)", status: e.status)
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
        let name = (try? req.content.decode(RenameForm.self).name) ?? ""
        do {
            try await service(req).rename(a, to: name)
            return req.redirect(to: path(a), flash: "Renamed to \(name).")
        } catch let e as CVError {
            return try await page(req, a, renameTo: name, error: "Not renamed: \(e.message)", status: e.status)
        }
    }

    func delete(req: Request) async throws -> Response {
        let a = try await account(req)
        do {
            try await service(req).delete(a)
            return req.redirect(to: "/accounts", flash: "Resource account \(a.name) deleted.")
        } catch let e as CVError {
            return req.redirect(to: path(a), flash: nil, error: "Not deleted: \(e.message)")
        }
    }

    func regenerate(req: Request) async throws -> Response {
        let a = try await account(req)
        guard let kind = KeyKind(rawValue: req.parameters.get("kind") ?? ""),
              let slot = req.parameters.get("slot", as: Int.self), (1...2).contains(slot) else { throw Abort(.notFound) }
        let secret = try await service(req).regenerate(a, kind: kind, slot: slot)
        NewKeysNotice.leave([.init(label: "\(kind.rawValue.capitalized) key \(slot)", secret: secret)], for: a, on: req)
        return req.redirect(to: path(a), flash: "\(kind.rawValue.capitalized) key \(slot) regenerated; the old one no longer works.")
    }

    /// The account page. New keys (from the form just sent) are shown in full this once.
    private func page(_ req: Request, _ a: Account, renameTo: String? = nil, error: String? = nil,
                      status: HTTPResponseStatus = .ok) async throws -> Response {
        let id = a.id!.uuidString.lowercased()
        let csrf = req.csrfToken
        let usage = try await UsageReport.make(for: a, on: req.db)
        let keys = try await service(req).keys(of: a)
        var newKeys: [NewKeysNotice.Key] = []
        var lostKeys = false
        switch NewKeysNotice.take(for: a, from: req) {
        case .keys(let k): newKeys = k
        case .lost: lostKeys = true
        case .none: break
        }
        func copyable(_ value: String, id: String, label: String) -> HNode {
            H.el("span", [("class", "row")], [
                H.el("code", [("id", id), ("data-value", value)], [H.text(value)]),
                H.el("button", [("type", "button"), ("class", "secondary"), ("data-copy", id), ("aria-label", "Copy \(label)")], [H.text("Copy")]),
            ])
        }
        var body: [HNode] = []
        if lostKeys {
            body.append(H.el("p", [("class", "error"), ("id", "keys-lost"), ("role", "alert")], [
                H.text("The new key could not be shown (the server restarted before this page). Regenerate it to get one you can copy."),
            ]))
        }
        if !newKeys.isEmpty {
            body.append(H.el("div", [("class", "newkeys"), ("id", "new-keys"), ("role", "status")], [
                H.el("p", [], [H.el("strong", [], [H.text("Copy these keys now. ")]),
                               H.text("Sightline keeps only a hash of each key, so it cannot show them again; if one is lost, regenerate it.")]),
            ] + newKeys.enumerated().map { i, k in
                H.el("p", [], [H.text("\(k.label): "),
                               H.el("code", [("class", "new-key"), ("data-label", k.label), ("id", "new-key-\(i)"), ("data-value", k.secret)], [H.text(k.secret)]),
                               H.text(" "),
                               H.el("button", [("type", "button"), ("class", "secondary"), ("data-copy", "new-key-\(i)"), ("aria-label", "Copy \(k.label)")], [H.text("Copy")])])
            }))
        }
        body.append(H.el("div", [("class", "panel")], [
            H.el("dl", [("id", "account-facts")], [
                H.el("dt", [], [H.text("Tier")]), H.el("dd", [("id", "tier-code")], [H.text(a.tierCode)]),
                H.el("dt", [], [H.text("Endpoint")]), H.el("dd", [("id", "endpoint")], [copyable(req.application.settings.endpoint, id: "endpoint-value", label: "endpoint")]),
                H.el("dt", [], [H.text("Resource id")]), H.el("dd", [("id", "resource-id")], [copyable(a.resourceID, id: "resource-id-value", label: "resource id")]),
            ]),
        ]))
        body += try await ProjectPages.section(req, account: a, csrf: csrf)
        body.append(H.el("h2", [], [H.text("Keys")]))
        body.append(H.el("p", [("class", "hint")], [H.text("Keys are shown once, when they are made, and stored only as hashes. The table shows each key's last characters so you can tell them apart.")]))
        body.append(H.el("div", [("class", "table-wrap")], [H.table(head: ["Key", "Value", ""], rows: keys.map { k in
            let label = "\(k.kindRaw.capitalized) key \(k.slot)"
            return [H.text(label), H.el("code", [("class", "masked-key")], [H.text("••••••••••••" + k.hint)]),
                    H.el("form", [("method", "post"), ("action", "/accounts/\(id)/keys/\(k.kindRaw)/\(k.slot)"),
                                  ("data-confirm", "Regenerate \(label)? Apps using the current key stop working until they get the new one.")], [
                        H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)]),
                        H.button("Regenerate", id: "regen-\(k.kindRaw)-\(k.slot)", cls: "secondary"),
                    ])]
        }, id: "keys")]))
        body.append(H.el("h2", [], [H.text("Usage")]))
        body.append(H.el("div", [("id", "usage"), ("class", "panel")], usage.quotas.map {
            H.usageBar(label: $0.label, used: $0.used, limit: $0.limit, name: $0.name)
        } + [H.el("p", [("class", "hint")], [H.text("Bars turn amber at 80 % of a limit and red at the limit. Per-project limits show the fullest project.")])]))
        body.append(H.el("h2", [], [H.text("Settings")]))
        body.append(H.el("div", [("class", "panel")], [
            H.form(action: "/accounts/\(id)/rename", csrf: csrf, id: "rename-form", [
                H.el("div", [("class", "row")], [H.field("Name", name: "name", value: renameTo ?? a.name, id: "rename-name", extra: [("required", "required"), ("maxlength", "64")]),
                                                 H.button("Rename", id: "rename", cls: "secondary")]),
            ]),
            H.el("form", [("method", "post"), ("action", "/accounts/\(id)/delete"), ("id", "delete-form"), ("class", "danger-zone"),
                          ("data-confirm", "Delete the resource account \(a.name)? Its keys stop working.")], [
                H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)]),
                H.button("Delete account", id: "delete", cls: "danger"),
            ]),
        ]))
        return .html(PortalLayout.page(req, title: a.name, error: error, body), status: status)
    }
}
