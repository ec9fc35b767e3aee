import Vapor

/// A project's Settings: name, description, domain (a change applies to the next
/// training, as Azure does), classification type, export platforms, the resource
/// account it lives in, and deleting the project.
struct ProjectSettingsPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("accounts", ":accountId", "projects", ":projectId", "settings")
        p.get(use: show)
        p.post(use: save)
    }

    struct Form: Content {
        var name: String?
        var description: String?
        var domainId: String?
        var classificationType: String?
        var exportPlatforms: [String]?
    }

    func show(req: Request) async throws -> Response {
        try await page(req, try await ImagePages.Context.load(req))
    }

    func save(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let form = try req.content.decode(Form.self)
        let before = c.project.domainID
        // Platforms the new domain cannot export are dropped with the domain change.
        let target = form.domainId.flatMap { UUID(uuidString: $0) }.flatMap { req.application.domainCatalog.domain($0) }
            ?? req.application.domainCatalog.domain(before)
        let platforms = (form.exportPlatforms ?? []).filter { target?.exportablePlatforms.contains($0) == true }
        do {
            let p = try await ProjectService(db: req.db, domains: req.application.domainCatalog).update(
                account: c.account, id: c.project.id!.uuidString,
                changes: ProjectChanges(name: form.name, description: form.description ?? "", domainID: form.domainId,
                                        classificationType: form.classificationType, targetExportPlatforms: platforms))
            var message = "Settings saved."
            if p.domainID != before {
                message += " The domain is now \(req.application.domainCatalog.domain(p.domainID)?.name ?? "?"); it applies to the next training, so choose Train to retrain."
            }
            return req.redirect(to: "\(c.base)/settings", flash: message)
        } catch let e as CVError {
            return try await page(req, c, form: form, error: "Settings not saved: \(e.message)", status: e.status)
        }
    }

    private func page(_ req: Request, _ c: ImagePages.Context, form: Form? = nil, error: String? = nil,
                      status: HTTPResponseStatus = .ok) async throws -> Response {
        let csrf = req.csrfToken
        let p = c.project
        let catalog = req.application.domainCatalog
        let current = catalog.domain(p.domainID)
        let chosenDomain = form?.domainId ?? p.domainID.uuidString.lowercased()
        let domains = catalog.domains.filter { $0.type == p.projectType }
        let chosen = catalog.domain(UUID(uuidString: chosenDomain) ?? p.domainID) ?? current
        let platforms = Set(form?.exportPlatforms ?? p.targetExportPlatforms)
        var fields: [HNode] = [
            H.field("Name", name: "name", value: form?.name ?? p.name, id: "settings-name", extra: [("required", "required"), ("maxlength", "256")]),
            H.el("label", [], [H.text("Description"), H.el("textarea", [("name", "description"), ("id", "settings-description"), ("rows", "3"), ("maxlength", "4096")],
                                                          [H.text(form?.description ?? p.description)])]),
            H.el("label", [], [H.text("Domain"), H.el("select", [("name", "domainId"), ("id", "settings-domain")], domains.map { d in
                let id = d.id.uuidString.lowercased()
                return H.el("option", [("value", id), ("data-description", d.modelInformation?.description ?? "")] + (id == chosenDomain ? [("selected", "selected")] : []),
                            [H.text(d.name)])
            })]),
            H.el("p", [("class", "hint"), ("id", "settings-domain-description")], [H.text(chosen?.modelInformation?.description ?? "")]),
            H.el("p", [("class", "hint")], [H.text("A new domain applies to the next training; iterations already trained keep theirs.")]),
        ]
        if p.projectType != "ObjectDetection" {
            let type = form?.classificationType ?? p.classificationType ?? "Multilabel"
            fields.append(H.el("fieldset", [], [
                H.el("legend", [], [H.text("Classification type")]),
                H.el("label", [("class", "inline")], [H.void("input", [("type", "radio"), ("name", "classificationType"), ("value", "Multilabel"), ("id", "settings-multilabel")]
                                                              + (type == "Multilabel" ? [("checked", "checked")] : [])), H.text("Multilabel (several tags per image)")]),
                H.el("label", [("class", "inline")], [H.void("input", [("type", "radio"), ("name", "classificationType"), ("value", "Multiclass"), ("id", "settings-multiclass")]
                                                              + (type == "Multiclass" ? [("checked", "checked")] : [])), H.text("Multiclass (one tag per image)")]),
            ]))
        }
        if let chosen, !chosen.exportablePlatforms.isEmpty {
            fields.append(H.el("fieldset", [("id", "settings-platforms")], [
                H.el("legend", [], [H.text("Export platforms")]),
            ] + chosen.exportablePlatforms.map { name in
                H.el("label", [("class", "inline")], [
                    H.void("input", [("type", "checkbox"), ("name", "exportPlatforms[]"), ("value", name)] + (platforms.contains(name) ? [("checked", "checked")] : [])),
                    H.text(name),
                ])
            } + [H.el("p", [("class", "hint")], [H.text("The platforms this project is meant for. Every platform the domain supports can be exported from the Performance tab.")])]))
        } else {
            fields.append(H.el("p", [("class", "hint"), ("id", "settings-no-export")], [H.text("\(chosen?.name ?? "This") domain cannot be exported; choose a compact domain to export models.")]))
        }
        fields.append(H.button("Save changes", id: "settings-save"))
        let body: [HNode] = [
            H.el("div", [("class", "panel")], [
                H.el("h2", [], [H.text("Project settings")]),
                H.form(action: "\(c.base)/settings", csrf: csrf, id: "settings-form", fields),
            ]),
            H.el("div", [("class", "panel")], [
                H.el("h2", [], [H.text("Resource")]),
                H.el("dl", [], [
                    H.el("dt", [], [H.text("Resource account")]),
                    H.el("dd", [], [H.link(c.account.name, "/accounts/\(c.account.id!.uuidString.lowercased())", id: "settings-account")]),
                    H.el("dt", [], [H.text("Resource id")]), H.el("dd", [], [H.el("code", [], [H.text(c.account.resourceID)])]),
                    H.el("dt", [], [H.text("Project id")]), H.el("dd", [], [H.el("code", [], [H.text(p.id!.uuidString.lowercased())])]),
                    H.el("dt", [], [H.text("Type")]), H.el("dd", [], [H.text(ProjectsHome.typeLabel(p))]),
                ]),
            ]),
            H.el("div", [("class", "panel")], [
                H.el("h2", [], [H.text("Delete project")]),
                H.el("p", [], [H.text("Deletes the project with its images, tags and iterations. Unpublish its iterations first.")]),
                H.el("form", [("method", "post"), ("action", "\(c.base)/delete"), ("id", "delete-project"),
                              ("data-confirm", "Delete the project \(p.name) with all its images and iterations? This cannot be undone.")], [
                    H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)]),
                    H.button("Delete project", id: "delete-project-button", cls: "danger"),
                ]),
            ]),
            H.el("script", [("src", "/js/settings.js")]),
        ]
        return try await ProjectWorkspace.page(req, c, tab: .settings, error: error, status: status, body)
    }
}
