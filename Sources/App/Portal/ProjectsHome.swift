import Fluent
import Vapor

/// The portal's home: the user's projects across all their resource accounts as cards,
/// and the "New project" dialog (type, classification type where it applies, domain with
/// its description, resource account).
struct ProjectsHome: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        routes.get("projects", use: show)
        routes.post("projects", use: create)
    }

    struct NewProject: Content {
        var accountId: String?
        var name: String?
        var description: String?
        var projectType: String?
        var domainId: String?
        var classificationType: String?
    }

    func show(req: Request) async throws -> Response {
        try await page(req, form: nil)
    }

    func create(req: Request) async throws -> Response {
        let form = try req.content.decode(NewProject.self)
        do {
            let a = try await AccountService(db: req.db).find(owner: req.portalUser!, id: form.accountId ?? "")
            let catalog = req.application.domainCatalog
            let detection = form.projectType == "ObjectDetection"
            if let raw = form.domainId, let id = UUID(uuidString: raw), let d = catalog.domain(id), d.isObjectDetection != detection {
                throw CVError.badRequest("BadRequestProjectUnknownDomain",
                                         "\(d.name) is a \(d.isObjectDetection ? "object detection" : "classification") domain; choose one for the project type you picked.")
            }
            let p = try await ProjectService(db: req.db, domains: catalog).create(
                account: a, name: form.name ?? "", description: form.description,
                changes: ProjectChanges(domainID: form.domainId, classificationType: detection ? nil : form.classificationType))
            return req.redirect(to: ProjectWorkspace.base(a, p), flash: "Project \(p.name) created. Add tags and images to start.")
        } catch let e as CVError {
            return try await page(req, form: form, error: "The project was not created: \(e.message)", status: e.status)
        } catch let e as QuotaLedger.Exceeded {
            let cv = CVError.quotaExceeded(e)
            return try await page(req, form: form, error: "The project was not created: \(cv.message)", status: cv.status)
        }
    }

    /// One card's facts.
    struct Card {
        var account: Account, project: Project, thumbnail: String?, images: Int, iterations: Int, lastTrained: Date?
    }

    /// Every card in four statements, however many projects the accounts hold.
    static func cards(_ req: Request, accounts: [Account]) async throws -> [Card] {
        let signer = req.application.blobSigner, base = req.application.settings.publicURL
        var projects: [(Account, Project)] = []
        for a in accounts {
            for p in try await ProjectService(db: req.db, domains: req.application.domainCatalog).list(account: a) { projects.append((a, p)) }
        }
        let ids = projects.compactMap { $0.1.id }
        let thumbnails = try await ProjectService.firstThumbnails(ids, on: req.db)
        let images = try await ImageCounters(db: req.db).images(projects: ids)
        var iterations: [UUID: [Iteration]] = [:]
        if !ids.isEmpty {
            for it in try await Iteration.query(on: req.db).filter(\.$projectID ~~ ids).all() { iterations[it.projectID, default: []].append(it) }
        }
        let out = projects.map { a, p in
            Card(account: a, project: p, thumbnail: thumbnails[p.id!].map { signer.url(hash: $0, base: base) },
                 images: images[p.id!] ?? 0, iterations: iterations[p.id!]?.count ?? 0,
                 lastTrained: iterations[p.id!]?.compactMap(\.trainedAt).max())
        }
        return out.sorted { ($0.project.updatedAt ?? .distantPast) > ($1.project.updatedAt ?? .distantPast) }
    }

    static func typeLabel(_ p: Project) -> String {
        p.projectType == "ObjectDetection" ? "Object detection" : "Classification · \(p.classificationType ?? "Multilabel")"
    }

    private func page(_ req: Request, form: NewProject?, error: String? = nil, status: HTTPResponseStatus = .ok) async throws -> Response {
        let accounts = try await AccountService(db: req.db).list(owner: req.portalUser!)
        let cards = try await Self.cards(req, accounts: accounts)
        let catalog = req.application.domainCatalog
        var body: [HNode] = []
        if accounts.isEmpty {
            body.append(H.el("div", [("class", "panel"), ("id", "no-accounts")], [
                H.el("p", [], [H.text("Projects live in a resource account, which holds their keys and limits. Create one first.")]),
                H.el("a", [("href", "/accounts"), ("class", "button"), ("id", "to-accounts")], [H.text("Create a resource account")]),
            ]))
        } else {
            body.append(H.el("div", [("class", "page-actions")], [
                H.el("button", [("type", "button"), ("id", "new-project"), ("data-open-dialog", "new-project-dialog")], [H.text("New project")]),
                H.el("span", [("class", "hint")], [H.text("\(cards.count) project\(cards.count == 1 ? "" : "s") in \(accounts.count) resource account\(accounts.count == 1 ? "" : "s")")]),
            ]))
            body.append(cards.isEmpty
                ? H.el("p", [("class", "panel"), ("id", "no-projects")], [H.text("No projects yet. Choose New project to start one.")])
                : H.el("div", [("class", "cards"), ("id", "project-cards")], cards.map { c in
                    let domain = catalog.domain(c.project.domainID)?.name ?? "Unknown domain"
                    let trained = c.lastTrained.map { "Last trained \(PortalDates.short($0))" } ?? "Not trained yet"
                    return H.el("a", [("class", "card"), ("href", ProjectWorkspace.base(c.account, c.project)),
                                      ("data-project", c.project.id!.uuidString.lowercased())], [
                        H.el("div", [("class", "cover")], [c.thumbnail.map { H.void("img", [("src", $0), ("alt", ""), ("loading", "lazy")]) }
                                                            ?? H.text("No images yet")]),
                        H.el("div", [("class", "body")], [
                            H.el("h2", [], [H.text(c.project.name)]),
                            H.el("p", [("class", "meta")], [H.text("\(Self.typeLabel(c.project)) · \(domain)")]),
                            H.el("p", [("class", "meta")], [H.text("\(c.images) image\(c.images == 1 ? "" : "s") · \(c.iterations) iteration\(c.iterations == 1 ? "" : "s")")]),
                            H.el("p", [("class", "meta")], [H.text("\(trained) · \(c.account.name)")]),
                        ]),
                    ])
                }))
            body.append(newProjectDialog(req, accounts: accounts, form: form, open: error != nil, error: error))
            body.append(H.el("script", [("src", "/js/new-project.js")]))
        }
        return .html(PortalLayout.page(req, title: "Projects", error: error, body), status: status)
    }

    /// The New project dialog; reopened with the user's input when the server refused it.
    func newProjectDialog(_ req: Request, accounts: [Account], form: NewProject?, open: Bool, error: String?) -> HNode {
        let catalog = req.application.domainCatalog
        let detection = form?.projectType == "ObjectDetection"
        let chosenDomain = form?.domainId ?? DomainCatalog.generalClassification.uuidString.lowercased()
        func radio(_ name: String, _ value: String, _ label: String, checked: Bool, id: String) -> HNode {
            H.el("label", [("class", "inline")], [
                H.void("input", [("type", "radio"), ("name", name), ("value", value), ("id", id)] + (checked ? [("checked", "checked")] : [])),
                H.text(label),
            ])
        }
        let multiclass = form?.classificationType == "Multiclass"
        return H.el("dialog", [("id", "new-project-dialog"), ("aria-labelledby", "new-project-title")] + (open ? [("data-open", "true")] : []), [
            H.el("div", [("class", "dialog-body")], [
                H.el("h2", [("id", "new-project-title")], [H.text("New project")]),
                error.map { H.el("p", [("class", "error"), ("id", "new-project-error")], [H.text($0)]) } ?? H.text(""),
                H.form(action: "/projects", csrf: req.csrfToken, id: "create-project", [
                    H.field("Name", name: "name", value: form?.name ?? "", id: "project-name", extra: [("required", "required"), ("maxlength", "256")]),
                    H.el("label", [], [H.text("Description"), H.el("textarea", [("name", "description"), ("id", "project-description"), ("rows", "2"), ("maxlength", "4096")],
                                                                  [H.text(form?.description ?? "")])]),
                    H.el("label", [], [H.text("Resource"), H.el("select", [("name", "accountId"), ("id", "project-account")], accounts.map { a in
                        let id = a.id!.uuidString.lowercased()
                        return H.el("option", [("value", id)] + (form?.accountId == id ? [("selected", "selected")] : []), [H.text("\(a.name) (\(a.tierCode))")])
                    })]),
                    H.el("fieldset", [], [
                        H.el("legend", [], [H.text("Project type")]),
                        radio("projectType", "Classification", "Classification", checked: !detection, id: "type-classification"),
                        radio("projectType", "ObjectDetection", "Object detection", checked: detection, id: "type-detection"),
                    ]),
                    H.el("fieldset", [("id", "classification-types")] + (detection ? [("hidden", "hidden")] : []), [
                        H.el("legend", [], [H.text("Classification type")]),
                        radio("classificationType", "Multilabel", "Multilabel (several tags per image)", checked: !multiclass, id: "project-multilabel"),
                        radio("classificationType", "Multiclass", "Multiclass (one tag per image)", checked: multiclass, id: "project-multiclass"),
                    ]),
                    H.el("label", [], [H.text("Domain"), H.el("select", [("name", "domainId"), ("id", "project-domain")], catalog.domains.map { d in
                        let id = d.id.uuidString.lowercased()
                        var attrs = [("value", id), ("data-type", d.type), ("data-description", d.modelInformation?.description ?? "")]
                        if id == chosenDomain { attrs.append(("selected", "selected")) }
                        if d.isObjectDetection != detection { attrs.append(("hidden", "hidden")) }
                        return H.el("option", attrs, [H.text(d.name)])
                    })]),
                    H.el("p", [("class", "hint"), ("id", "domain-description"), ("aria-live", "polite")],
                         [H.text(catalog.domain(UUID(uuidString: chosenDomain) ?? DomainCatalog.generalClassification)?.modelInformation?.description ?? "")]),
                    H.el("div", [("class", "dialog-actions")], [
                        H.el("button", [("type", "button"), ("class", "secondary"), ("data-close-dialog", "")], [H.text("Cancel")]),
                        H.button("Create project", id: "create-project-button"),
                    ]),
                ]),
            ]),
        ])
    }
}
