import Fluent
import Vapor

/// Projects in the portal: create on the account page, then a project page with its
/// tags (add, delete) and delete. Same services, quotas and errors as the API.
struct ProjectPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("accounts", ":accountId", "projects")
        p.post(use: create)
        p.get(":projectId", use: show)
        p.post(":projectId", "delete", use: delete)
        p.post(":projectId", "tags", use: createTag)
        p.post(":projectId", "tags", ":tagId", "delete", use: deleteTag)
    }

    struct NewProject: Content {
        var name: String
        var description: String?
        var domainId: String?
        var classificationType: String?
    }
    struct NewTag: Content { var name: String; var type: String? }

    private func account(_ req: Request) async throws -> Account {
        try await AccountService(db: req.db).find(owner: req.portalUser!, id: req.parameters.get("accountId") ?? "")
    }

    private func projects(_ req: Request) -> ProjectService {
        ProjectService(db: req.db, domains: req.application.domainCatalog)
    }

    /// Another user's project is a 404 page, like a missing one.
    private func project(_ req: Request, _ a: Account) async throws -> Project {
        do { return try await projects(req).find(account: a, id: req.parameters.get("projectId") ?? "") }
        catch is CVError { throw Abort(.notFound) }
    }

    func create(req: Request) async throws -> Response {
        let a = try await account(req)
        let form = try req.content.decode(NewProject.self)
        do {
            let p = try await projects(req).create(account: a, name: form.name, description: form.description,
                                                   changes: ProjectChanges(domainID: form.domainId,
                                                                           classificationType: form.classificationType))
            return req.redirect(to: "/accounts/\(a.id!.uuidString.lowercased())/projects/\(p.id!.uuidString.lowercased())")
        } catch let e as CVError {
            throw CVError(e.status, e.code, "Could not create the project: \(e.message)")
        } catch let e as QuotaLedger.Exceeded {
            throw CVError.quotaExceeded(e)
        }
    }

    func show(req: Request) async throws -> Response {
        let a = try await account(req)
        return try await page(req, a, try await project(req, a))
    }

    func delete(req: Request) async throws -> Response {
        let a = try await account(req)
        let p = try await project(req, a)
        try await projects(req).delete(account: a, id: p.id!.uuidString)
        return req.redirect(to: "/accounts/\(a.id!.uuidString.lowercased())")
    }

    func createTag(req: Request) async throws -> Response {
        let a = try await account(req)
        let p = try await project(req, a)
        let form = try req.content.decode(NewTag.self)
        do {
            _ = try await TagService(db: req.db).create(account: a, project: p, name: form.name, description: nil, type: form.type)
            return try await page(req, a, p, flash: "Tag \(form.name) added.")
        } catch let e as CVError {
            return try await page(req, a, p, error: e.message, status: e.status)
        } catch let e as QuotaLedger.Exceeded {
            let cv = CVError.quotaExceeded(e)
            return try await page(req, a, p, error: cv.message, status: cv.status)
        }
    }

    func deleteTag(req: Request) async throws -> Response {
        let a = try await account(req)
        let p = try await project(req, a)
        do {
            try await TagService(db: req.db).delete(account: a, project: p, id: req.parameters.get("tagId") ?? "")
        } catch is CVError { throw Abort(.notFound) }
        return try await page(req, a, p, flash: "Tag deleted.")
    }

    private func page(_ req: Request, _ a: Account, _ p: Project, flash: String? = nil, error: String? = nil,
                      status: HTTPResponseStatus = .ok) async throws -> Response {
        let csrf = req.csrfToken
        let base = "/accounts/\(a.id!.uuidString.lowercased())/projects/\(p.id!.uuidString.lowercased())"
        let tags = try await TagService(db: req.db).list(project: p)
        let counts = try await ImageService(db: req.db).imageCounts(project: p)
        let domain = req.application.domainCatalog.domain(p.domainID)
        let body: [HNode] = [
            H.el("p", [], [H.link("← \(a.name)", "/accounts/\(a.id!.uuidString.lowercased())", id: "back")]),
            H.el("dl", [], [
                H.el("dt", [], [H.text("Project id")]), H.el("dd", [], [H.el("code", [("id", "project-id")], [H.text(p.id!.uuidString.lowercased())])]),
                H.el("dt", [], [H.text("Domain")]), H.el("dd", [], [H.text("\(domain?.name ?? "?") (\(p.projectType))")]),
                H.el("dt", [], [H.text("Classification")]), H.el("dd", [], [H.text(p.classificationType ?? "–")]),
                H.el("dt", [], [H.text("Description")]), H.el("dd", [], [H.text(p.description)]),
            ]),
        ] + (try await gallery(req, p, base: base, tags: tags, counts: counts, csrf: csrf))
          + (try await TrainingPages.section(req, ImagePages.Context(account: a, project: p), csrf: csrf)) + [
            H.el("h2", [], [H.text("Tags (\(tags.count))")]),
            H.table(head: ["Name", "Type", "Images", ""], rows: tags.map { t in
                [H.text(t.name), H.text(t.typeRaw), H.text(String(counts[t.id!] ?? 0)),
                 H.form(action: "\(base)/tags/\(t.id!.uuidString.lowercased())/delete", csrf: csrf, [H.button("Delete")])]
            }, id: "tags"),
            H.form(action: "\(base)/tags", csrf: csrf, id: "add-tag", [
                H.field("New tag", name: "name", id: "tag-name", extra: [("required", "required"), ("maxlength", "256")]),
                H.el("label", [], [H.text("Type"), H.el("select", [("name", "type"), ("id", "tag-type")], TagType.allCases.map {
                    H.el("option", [("value", $0.rawValue)], [H.text($0.rawValue)])
                })]),
                H.button("Add tag", id: "add-tag-button"),
            ]),
            H.form(action: "\(base)/delete", csrf: csrf, id: "delete-project", [H.button("Delete project", cls: "danger")]),
        ]
        return .html(PortalLayout.page(title: p.name, user: req.portalUser, csrf: csrf, flash: flash, error: error, body),
                     status: status)
    }

    static let pageSize = 48

    /// Thumbnails filtered by tag or untagged, paged, with the drag-and-drop uploader.
    private func gallery(_ req: Request, _ p: Project, base: String, tags: [Tag], counts: [UUID: Int],
                         csrf: String) async throws -> [HNode] {
        let filter = req.query[String.self, at: "tag"] ?? ""
        let requestedPage = req.clampedInt("page", 1...1_000_000, default: 1)
        var q = ImageQuery()
        if filter == "untagged" { q.tagging = .untagged }
        else if let t = UUID(uuidString: filter) { q.tagIDs = [t] }
        let service = ImageService(db: req.db)
        let all = try await service.matching(project: p, q)
        let pages = max(1, (all.count + Self.pageSize - 1) / Self.pageSize)
        let pageNumber = min(requestedPage, pages)
        let shown = all.dropFirst((pageNumber - 1) * Self.pageSize).prefix(Self.pageSize)
        let total = try await service.count(project: p, ImageQuery())
        let untagged = try await service.count(project: p, ImageQuery(tagging: .untagged))
        let signer = req.application.blobSigner, publicURL = req.application.settings.publicURL
        func filterLink(_ label: String, _ value: String) -> HNode {
            let attrs: [(String, String)] = [("href", value.isEmpty ? base : "\(base)?tag=\(value)"), ("data-filter", value.isEmpty ? "all" : value)]
                + (value == filter ? [("class", "active")] : [])
            return H.el("a", attrs, [H.text(label)])
        }
        var filters: [HNode] = [filterLink("All (\(total))", ""), filterLink("Untagged (\(untagged))", "untagged")]
        filters += tags.map { filterLink("\($0.name) (\(counts[$0.id!] ?? 0))", $0.id!.uuidString.lowercased()) }
        var pager: [HNode] = [H.text("Page \(pageNumber) of \(pages) ")]
        let filterQuery = filter.isEmpty ? "" : "tag=\(filter)&"
        if pageNumber > 1 { pager.append(H.link("← Previous", "\(base)?\(filterQuery)page=\(pageNumber - 1)", id: "prev-page")) }
        if pageNumber < pages { pager.append(H.link("Next →", "\(base)?\(filterQuery)page=\(pageNumber + 1)", id: "next-page")) }
        let plain = thumbnails(shown, base: base, signer: signer, publicURL: publicURL)
        let labelledCount = req.query[String.self, at: "labelled"].flatMap { Int($0) }.map { min(max($0, 0), 256) }
        let labelled: [HNode] = labelledCount.map { [H.el("p", [("class", "flash"), ("id", "smart-result")], [H.text("\($0) images tagged.")])] } ?? []
        return [
            H.el("h2", [], [H.text("Images")]),
            H.el("div", [("id", "uploader"), ("class", "uploader"), ("data-upload", "\(base)/images"), ("data-csrf", csrf)], [
                H.el("div", [("id", "dropzone"), ("class", "dropzone")], [
                    H.text("Drop images here or "),
                    H.el("label", [("class", "pick")], [H.text("choose files"),
                        H.void("input", [("type", "file"), ("id", "file-input"), ("multiple", "multiple"), ("accept", "image/*")])]),
                ]),
                H.el("div", [("class", "batch-tags")], [H.text("Tags for this upload: ")] + tags.map { t in
                    H.el("label", [("class", "inline")], [
                        H.void("input", [("type", "checkbox"), ("class", "batch-tag"), ("value", t.id!.uuidString.lowercased())]),
                        H.text(" \(t.name)"),
                    ])
                }),
                H.el("ul", [("id", "upload-list"), ("class", "upload-list")]),
            ]),
            H.el("p", [("class", "filters"), ("id", "filters")], filters),
        ] + labelled + [
            filter == "untagged" ? (try await SmartLabeler.gallery(req, project: p, base: base, images: Array(shown), tags: tags, csrf: csrf)) ?? plain : plain,
            H.el("p", [("class", "pager"), ("id", "pager"), ("data-count", String(all.count))], pager),
            H.el("script", [("src", "/js/upload.js")]),
        ]
    }

    /// The plain gallery: thumbnails that open their image.
    private func thumbnails(_ shown: ArraySlice<ImageRecord>, base: String, signer: BlobSigner, publicURL: String) -> HNode {
        H.el("div", [("class", "gallery"), ("id", "gallery")], shown.map { img in
            H.el("a", [("href", "\(base)/images/\(img.id!.uuidString.lowercased())"), ("class", "thumb"), ("data-image", img.id!.uuidString.lowercased())], [
                H.void("img", [("src", signer.url(hash: img.thumbnailHash, base: publicURL)), ("alt", "image"), ("loading", "lazy")]),
            ])
        })
    }

    /// The project list and create form shown on the account page.
    static func section(_ req: Request, account a: Account, csrf: String) async throws -> [HNode] {
        let list = try await ProjectService(db: req.db, domains: req.application.domainCatalog).list(account: a)
        let catalog = req.application.domainCatalog
        let base = "/accounts/\(a.id!.uuidString.lowercased())/projects"
        return [
            H.el("h2", [], [H.text("Projects")]),
            list.isEmpty ? H.el("p", [], [H.text("No projects yet.")]) :
                H.table(head: ["Name", "Domain", "Type"], rows: list.map { p in
                    [H.link(p.name, "\(base)/\(p.id!.uuidString.lowercased())"),
                     H.text(catalog.domain(p.domainID)?.name ?? "?"), H.text(p.classificationType ?? p.projectType)]
                }, id: "projects"),
            H.form(action: base, csrf: csrf, id: "create-project", [
                H.field("Project name", name: "name", id: "project-name", extra: [("required", "required"), ("maxlength", "256")]),
                H.field("Description", name: "description", id: "project-description"),
                H.el("label", [], [H.text("Domain"), H.el("select", [("name", "domainId"), ("id", "project-domain")], catalog.domains.map { d in
                    H.el("option", [("value", d.id.uuidString.lowercased())], [H.text("\(d.name) — \(d.type == "ObjectDetection" ? "Object detection (preview)" : d.type)")])
                })]),
                H.el("label", [], [H.text("Classification type"), H.el("select", [("name", "classificationType"), ("id", "project-classification")], [
                    H.el("option", [("value", "Multilabel")], [H.text("Multilabel (several tags per image)")]),
                    H.el("option", [("value", "Multiclass")], [H.text("Multiclass (one tag per image)")]),
                ])]),
                H.button("Create project", id: "create-project-button"),
            ]),
        ]
    }
}
