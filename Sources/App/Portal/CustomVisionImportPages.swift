import Fluent
import Vapor

/// "Import from Custom Vision": the source's endpoint and training key, then its projects
/// to pick and the account to copy into, then a page that follows the copy (it refreshes
/// itself until the run ends). The same importer as `sightline import-customvision`; the
/// endpoint and every image address are checked against the server's URL policy.
struct CustomVisionImportPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let i = routes.grouped("import")
        i.get(use: form)
        i.post("projects", use: listProjects)
        i.get("projects", ":listingId", use: pickProjects)
        i.post("start", use: start)
        i.get("runs", ":runId", use: run)
        i.post("runs", ":runId", "cancel", use: cancel)
    }

    struct SourceForm: Content { var endpoint: String; var trainingKey: String }
    struct StartForm: Content {
        var listing: String
        var accountId: String
        var projects: [String]?
        var train: String?
    }

    static let maxField = 2048

    private func source(_ req: Request, endpoint: String, key: String) throws -> CustomVisionSource {
        let e = endpoint.trimmingCharacters(in: .whitespaces), k = key.trimmingCharacters(in: .whitespaces)
        guard !e.isEmpty, e.count <= Self.maxField, let url = URL(string: e), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
              url.host != nil else {
            throw CVError.badRequest("BadRequestInvalidUri", "The endpoint is the https address of the Custom Vision resource, e.g. https://westeurope.api.cognitive.microsoft.com.")
        }
        guard !k.isEmpty, k.count <= 256 else { throw CVError.badRequest("BadRequest", "Give a training key of that resource.") }
        return CustomVisionSource(endpoint: e, trainingKey: k, http: req.application.pinnedHTTP, policy: req.application.urlPolicy)
    }

    private func formPage(_ req: Request, endpoint: String = "", error: String? = nil, status: HTTPResponseStatus = .ok) -> Response {
        let csrf = req.csrfToken
        return .html(PortalLayout.page(title: "Import from Custom Vision", user: req.portalUser, csrf: csrf, error: error, [
            H.el("p", [], [H.text("Copies projects from Azure Custom Vision (or another Sightline) into one of your resource accounts: tags, every image's original file, its tags, regions and metadata. Running it again copies only what is missing.")]),
            H.form(action: "/import/projects", csrf: csrf, id: "import-source", [
                H.field("Endpoint", name: "endpoint", type: "url", value: endpoint, id: "import-endpoint",
                        extra: [("required", "required"), ("maxlength", "\(Self.maxField)"), ("placeholder", "https://westeurope.api.cognitive.microsoft.com")]),
                H.field("Training key", name: "trainingKey", type: "password", id: "import-key", extra: [("required", "required"), ("maxlength", "256"), ("autocomplete", "new-password")]),
                H.button("List projects", id: "import-list"),
            ]),
        ]), status: status)
    }

    func form(req: Request) async throws -> Response { formPage(req) }

    /// Lists the source's projects, keeps the list, and redirects to the page that picks from it.
    func listProjects(req: Request) async throws -> Response {
        let f = try req.content.decode(SourceForm.self)
        let projects: [CustomVisionSource.Project]
        do {
            projects = try await source(req, endpoint: f.endpoint, key: f.trainingKey).projects()
        } catch let e as CVError {
            return formPage(req, endpoint: f.endpoint, error: e.message, status: e.status)
        } catch {
            return formPage(req, endpoint: f.endpoint, error: "Could not list the source's projects: \(error)", status: .badRequest)
        }
        let id = try await req.application.customVisionImports.keep(.init(
            userID: req.portalUser!.id!, endpoint: f.endpoint.trimmingCharacters(in: .whitespaces),
            trainingKey: f.trainingKey.trimmingCharacters(in: .whitespaces),
            projects: projects.map { .init(id: $0.id, name: $0.name) }, created: Date()))
        return req.redirect(to: "/import/projects/\(id.uuidString.lowercased())", flash: nil)
    }

    private func listing(_ req: Request) async throws -> (UUID, CustomVisionImportRuns.Listing)? {
        guard let id = UUID(uuidString: req.parameters.get("listingId") ?? ""),
              let l = try await req.application.customVisionImports.listing(id, user: req.portalUser!.id!) else { return nil }
        return (id, l)
    }

    static let expired = "That list of projects has expired (lists are kept for half an hour); list them again."

    func pickProjects(req: Request) async throws -> Response {
        guard let (id, l) = try await listing(req) else { return formPage(req, error: Self.expired, status: .notFound) }
        let accounts = try await AccountService(db: req.db).list(owner: req.portalUser!)
        let csrf = req.csrfToken
        let rows: [[HNode]] = l.projects.map { p in
            [H.el("label", [], [H.void("input", [("type", "checkbox"), ("name", "projects[]"), ("value", p.id), ("checked", "checked"),
                                                 ("class", "import-project")]), H.text(" " + p.name)]),
             H.text(p.id)]
        }
        return .html(PortalLayout.page(req, title: "Import from Custom Vision", [
            H.el("p", [], [H.text("\(l.projects.count) projects at \(CustomVisionSource.safe(l.endpoint)). Pick those to copy and the account to copy them into.")]),
            H.form(action: "/import/start", csrf: csrf, id: "import-start", [
                H.void("input", [("type", "hidden"), ("name", "listing"), ("value", id.uuidString.lowercased())]),
                H.table(head: ["Project", "Id"], rows: rows, id: "import-projects"),
                H.el("label", [], [H.text("Into account"), H.el("select", [("name", "accountId"), ("id", "import-account")], accounts.map { a in
                    H.el("option", [("value", a.id!.uuidString.lowercased())], [H.text("\(a.name) (\(a.tierCode))")])
                })]),
                H.el("label", [], [H.void("input", [("type", "checkbox"), ("name", "train"), ("value", "on"), ("id", "import-train")]),
                                   H.text(" Train each copy when it is complete")]),
                H.button("Import", id: "import-go"),
            ]),
        ]))
    }

    func start(req: Request) async throws -> Response {
        let f = try req.content.decode(StartForm.self)
        let user = req.portalUser!
        let runs = req.application.customVisionImports
        guard let id = UUID(uuidString: f.listing), let l = try await runs.listing(id, user: user.id!) else {
            return formPage(req, error: Self.expired, status: .notFound)
        }
        let account = try await AccountService(db: req.db).find(owner: user, id: f.accountId)
        let known = Set(l.projects.map(\.id))
        let chosen = (f.projects ?? []).filter { known.contains($0) }
        guard !chosen.isEmpty else {
            return req.redirect(to: "/import/projects/\(id.uuidString.lowercased())", flash: nil, error: "Pick at least one project.")
        }
        let progressSource: CustomVisionSource
        do { progressSource = try source(req, endpoint: l.endpoint, key: l.trainingKey) } catch let e as CVError {
            return formPage(req, endpoint: l.endpoint, error: e.message, status: e.status)
        }
        var counted = progressSource
        let box = CustomVisionImporter.Progress()
        counted.onThrottle = { _ in box.update { $0.throttled += 1 } }
        let run: UUID
        do {
            run = try await runs.start(user: user.id!, account: account, endpoint: l.endpoint,
                                 importer: CustomVisionImporter(app: req.application, source: counted, account: account),
                                 projects: chosen, train: f.train == "on", progress: box)
        } catch let busy as CustomVisionImportRuns.Busy {
            return req.redirect(to: "/import/projects/\(id.uuidString.lowercased())", flash: nil, error: busy.message)
        }
        try await runs.forget(listing: id)
        try await AuditLog.record(actor: user, action: "import.start", target: "account:\(account.id!.uuidString.lowercased())",
                                  before: String?.none, after: ImportAudit(endpoint: CustomVisionSource.safe(l.endpoint), projects: chosen,
                                                                           train: f.train == "on", run: run.uuidString.lowercased()), on: req.db)
        return req.redirect(to: "/import/runs/\(run.uuidString.lowercased())")
    }

    /// Who imported what from where, in the audit log.
    struct ImportAudit: Encodable { var endpoint: String; var projects: [String]; var train: Bool; var run: String }

    /// Stops a run after the images it is copying now.
    func cancel(req: Request) async throws -> Response {
        guard let id = UUID(uuidString: req.parameters.get("runId") ?? ""),
              let run = try await req.application.customVisionImports.run(id, user: req.portalUser!.id!) else { throw Abort(.notFound) }
        if !run.report.finished {
            try await req.application.customVisionImports.cancel(id, user: req.portalUser!.id!)
            try await AuditLog.record(actor: req.portalUser!, action: "import.cancel", target: "account:\(run.accountID.uuidString.lowercased())",
                                      before: String?.none, after: ["run": id.uuidString.lowercased()], on: req.db)
        }
        return req.redirect(to: "/import/runs/\(id.uuidString.lowercased())", flash: run.report.finished ? nil : "Cancelling: the import stops after the images it is copying now.")
    }

    func run(req: Request) async throws -> Response {
        guard let id = UUID(uuidString: req.parameters.get("runId") ?? ""),
              let run = try await req.application.customVisionImports.run(id, user: req.portalUser!.id!) else { throw Abort(.notFound) }
        let r = run.report
        let rows: [[HNode]] = r.projects.map { p in
            [H.text(p.name), H.el("span", [("class", "import-state")], [H.text(Self.stateText(p.state))]),
             H.el("div", [], [H.fill(p.imagesTotal == 0 ? (p.state == "done" ? 1 : 0) : Double(p.imagesDone) / Double(p.imagesTotal)),
                              H.el("span", [("class", "import-counts")], [H.text("\(p.copied) copied, \(p.alreadyThere) already here, \(p.didNotFit) did not fit, \(p.failed) failed, of \(p.imagesTotal)")])]),
             H.el("ul", [], (p.notes + (p.training.map { ["Trained: \($0)"] } ?? [])).map { H.el("li", [], [H.text($0)]) }),
             p.targetID.map { H.link("Open", "/accounts/\(run.accountID.uuidString.lowercased())/projects/\($0)") } ?? H.text("")]
        }
        var body: [HNode] = [
            H.el("p", [("id", "import-status")], [H.text(r.finished ? "Finished." : "Copying from \(CustomVisionSource.safe(run.endpoint)); this page follows it.")]),
            H.table(head: ["Project", "State", "Images", "Notes", ""], rows: rows, id: "import-run"),
        ]
        if !r.finished {
            body.append(H.form(action: "/import/runs/\(id.uuidString.lowercased())/cancel", csrf: req.csrfToken, id: "import-cancel",
                               [H.button(r.cancelled ? "Cancelling…" : "Cancel import", id: "import-cancel-button")]))
        }
        if r.throttled > 0 { body.append(H.el("p", [], [H.text("The source asked to slow down \(r.throttled) times; each was waited out.")])) }
        if let e = r.error { body.append(H.el("p", [("class", "error")], [H.text(e)])) }
        // Follows the run without script: the page reloads itself every two seconds until it ends.
        return .html(PortalLayout.page(title: "Import from Custom Vision", user: req.portalUser, csrf: req.csrfToken,
                                       refreshSeconds: r.finished ? nil : 2, body))
    }

    static func stateText(_ s: String) -> String {
        switch s {
        case "waiting": return "Waiting"
        case "copying": return "Copying"
        case "training": return "Training the copy"
        case "done": return "Done"
        case "cancelled": return "Cancelled"
        default: return "Failed"
        }
    }
}
