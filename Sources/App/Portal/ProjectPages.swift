import Fluent
import Vapor

/// The Training images tab: tags with their image counts in a sidebar (filter by one or
/// several, tagged/untagged; add, rename, delete in place), the uploader, and a paged
/// thumbnail grid with tag chips and a selection for bulk tag / untag / delete.
/// Same services, quotas and errors as the Training API.
struct ProjectPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("accounts", ":accountId", "projects")
        p.get(":projectId", use: show)
        p.post(":projectId", "delete", use: delete)
        p.post(":projectId", "tags", use: createTag)
        p.post(":projectId", "tags", ":tagId", "rename", use: renameTag)
        p.post(":projectId", "tags", ":tagId", "delete", use: deleteTag)
        p.post(":projectId", "bulk", use: bulk)
    }

    struct NewTag: Content { var name: String; var type: String? }

    /// Which images the grid shows: tagged, untagged, or those with any of some tags.
    struct Filter {
        var tagging: ImageQuery.Tagging = .all
        var tagIDs: [UUID] = []

        init(tagging: ImageQuery.Tagging = .all, tagIDs: [UUID] = []) { self.tagging = tagging; self.tagIDs = tagIDs }

        /// `?tag=untagged|tagged|<id>` and `?tags=<id>,<id>` (at most 20 tags, as the API).
        init(_ req: Request, field: (String) -> String?) {
            let tag = field("tag") ?? ""
            if tag == "untagged" { tagging = .untagged } else if tag == "tagged" { tagging = .tagged }
            let ids = (field("tags") ?? "").split(separator: ",").prefix(20).compactMap { UUID(uuidString: String($0)) }
            tagIDs = Array(Set(ids + (UUID(uuidString: tag).map { [$0] } ?? []))).sorted { $0.uuidString < $1.uuidString }
        }

        var query: ImageQuery {
            var q = ImageQuery()
            q.tagging = tagging
            q.tagIDs = tagIDs
            return q
        }

        /// The query string for this filter, without a page.
        var queryString: String {
            if tagging == .untagged { return "tag=untagged" }
            if tagging == .tagged { return "tag=tagged" }
            if tagIDs.isEmpty { return "" }
            return "tags=" + tagIDs.map { $0.uuidString.lowercased() }.joined(separator: ",")
        }

        /// Hidden form fields that carry this filter through a form.
        var hiddenFields: [HNode] {
            if tagging != .all { return [H.void("input", [("type", "hidden"), ("name", "tag"), ("value", tagging == .untagged ? "untagged" : "tagged")])] }
            if tagIDs.isEmpty { return [] }
            return [H.void("input", [("type", "hidden"), ("name", "tags"), ("value", tagIDs.map { $0.uuidString.lowercased() }.joined(separator: ","))])]
        }

        /// This filter with one tag added or taken away.
        func toggling(_ id: UUID) -> Filter {
            var ids = tagging == .untagged ? [] : tagIDs
            if let i = ids.firstIndex(of: id) { ids.remove(at: i) } else { ids.append(id) }
            return Filter(tagging: .all, tagIDs: ids)
        }
    }

    private func projects(_ req: Request) -> ProjectService {
        ProjectService(db: req.db, domains: req.application.domainCatalog)
    }

    func show(req: Request) async throws -> Response {
        try await page(req, try await ImagePages.Context.load(req))
    }

    func delete(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        do {
            try await projects(req).delete(account: c.account, id: c.project.id!.uuidString)
        } catch let e as CVError {
            return req.redirect(to: "\(c.base)/settings", flash: nil, error: "The project was not deleted: \(e.message)")
        }
        return req.redirect(to: "/projects", flash: "Project \(c.project.name) deleted.")
    }

    /// Where a tag form returns to: the grid as the user left it.
    private func back(_ req: Request, _ c: ImagePages.Context) -> String {
        let q = (try? req.content.get(String.self, at: "return")) ?? ""
        let safe = q.allSatisfy { $0.isLetter || $0.isNumber || "=&,-".contains($0) } && q.count < 2_000
        return c.base + (safe && !q.isEmpty ? "?" + q : "")
    }

    func createTag(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let form = try req.content.decode(NewTag.self)
        do {
            _ = try await TagService(db: req.db).create(account: c.account, project: c.project, name: form.name, description: nil, type: form.type)
            return req.redirect(to: back(req, c), flash: "Tag \(form.name) added.")
        } catch let e as CVError {
            return try await page(req, c, error: "Tag not added: \(e.message)", status: e.status, newTag: form.name)
        } catch let e as QuotaLedger.Exceeded {
            let cv = CVError.quotaExceeded(e)
            return try await page(req, c, error: "Tag not added: \(cv.message)", status: cv.status, newTag: form.name)
        }
    }

    func renameTag(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let name = (try? req.content.get(String.self, at: "name")) ?? ""
        do {
            _ = try await TagService(db: req.db).update(project: c.project, id: req.parameters.get("tagId") ?? "", name: name, description: nil, type: nil)
            return req.redirect(to: back(req, c), flash: "Tag renamed to \(name).")
        } catch let e as CVError {
            return try await page(req, c, error: "Tag not renamed: \(e.message)", status: e.status)
        }
    }

    func deleteTag(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let id = req.parameters.get("tagId") ?? ""
        let name: String
        do {
            name = try await TagService(db: req.db).find(project: c.project, id: id).name
            try await TagService(db: req.db).delete(account: c.account, project: c.project, id: id)
        } catch is CVError { throw Abort(.notFound) }
        return req.redirect(to: c.base, flash: "Tag \(name) deleted; its images keep their other tags.")
    }

    struct BulkForm: Content {
        var action: String
        var imageIds: String?
        var tagId: String?
        var scope: String?
        var filterTag: String?
        var filterTags: String?
    }

    /// Tag, untag or delete the selected images (or every image the filter matches).
    func bulk(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let form = try req.content.decode(BulkForm.self)
        let selection = ImageSelectionService(db: req.db)
        var ids: [UUID]
        if form.scope == "all" {
            let filter = Filter(req, field: { $0 == "tag" ? form.filterTag : $0 == "tags" ? form.filterTags : nil })
            ids = try await ImageService(db: req.db).ids(project: c.project, filter.query)
        } else {
            // Only this project's images count (and are told): other ids are ignored.
            let raw = (form.imageIds ?? "").split(separator: ",").prefix(10_000).compactMap { UUID(uuidString: String($0)) }
            ids = try await selection.own(project: c.project, ids: raw)
        }
        let back = back(req, c)
        guard !ids.isEmpty else { return req.redirect(to: back, flash: nil, error: "Select one or more images first.") }
        let tags = try await ImageService(db: req.db).projectTags(c.project)
        do {
            switch form.action {
            case "tag", "untag":
                guard let raw = form.tagId, let tagID = UUID(uuidString: raw), let tag = tags[tagID] else {
                    return req.redirect(to: back, flash: nil, error: "Choose a tag for the selected images.")
                }
                if form.action == "untag" {
                    let had = try await selection.untag(project: c.project, tag: tagID, ids: ids)
                    return req.redirect(to: back, flash: "\(tag.name) removed from \(had) image\(had == 1 ? "" : "s").")
                }
                let r = try await selection.tag(project: c.project, tag: tagID, ids: ids)
                var parts = ["\(r.created) image\(r.created == 1 ? "" : "s") tagged \(tag.name)"]
                if r.duplicated > 0 { parts.append("\(r.duplicated) already had it") }
                if r.skipped > 0 { parts.append("\(r.skipped) skipped: this multiclass project allows one tag per image, so untag them first") }
                if r.exceeded > 0 { parts.append("\(r.exceeded) already have the most tags an image may have") }
                return req.redirect(to: back, flash: parts.joined(separator: "; ") + ".")
            case "delete":
                let freed = try await selection.delete(account: c.account, project: c.project, ids: ids)
                BlobSweeper.freeLater(freed, app: req.application)
                return req.redirect(to: back, flash: "\(ids.count) image\(ids.count == 1 ? "" : "s") deleted.")
            default:
                return req.redirect(to: back, flash: nil, error: "Unknown action.")
            }
        } catch let e as CVError {
            return req.redirect(to: back, flash: nil, error: e.message)
        }
    }

    static let pageSize = 48

    private func page(_ req: Request, _ c: ImagePages.Context, error: String? = nil, status: HTTPResponseStatus = .ok,
                      newTag: String? = nil) async throws -> Response {
        let csrf = req.csrfToken
        let tags = try await TagService(db: req.db).list(project: c.project)
        let counts = try await ImageService(db: req.db).imageCounts(project: c.project)
        // A form that failed shows the grid as it was sent from (its `return` field).
        let returned = URLComponents(string: "?" + ((try? req.content.get(String.self, at: "return")) ?? "")).flatMap(\.queryItems) ?? []
        let filter = req.method == .POST
            ? Filter(req, field: { name in returned.first { $0.name == name }?.value })
            : Filter(req, field: { req.query[String.self, at: $0] })
        let service = ImageService(db: req.db)
        let matching = try await service.count(project: c.project, filter.query)
        let pages = max(1, (matching + Self.pageSize - 1) / Self.pageSize)
        let requested = req.method == .POST ? (returned.first { $0.name == "page" }?.value).flatMap(Int.init).map { min(max($0, 1), 1_000_000) } ?? 1
            : req.clampedInt("page", 1...1_000_000, default: 1)
        let pageNumber = min(requested, pages)
        var pageQuery = filter.query
        pageQuery.skip = (pageNumber - 1) * Self.pageSize
        pageQuery.take = Self.pageSize
        let shown = try await service.list(project: c.project, pageQuery)
        let total = try await service.count(project: c.project, ImageQuery())
        let untagged = try await service.count(project: c.project, ImageQuery(tagging: .untagged))
        let fq = filter.queryString
        let sidebar = self.sidebar(c, tags: tags, counts: counts, filter: filter, total: total, untagged: untagged, csrf: csrf, newTag: newTag)
        var pager: [HNode] = [H.el("span", [], [H.text("Page \(pageNumber) of \(pages) · \(matching) image\(matching == 1 ? "" : "s")")])]
        let prefix = fq.isEmpty ? "" : fq + "&"
        if pageNumber > 1 { pager.append(H.link("← Previous", "\(c.base)?\(prefix)page=\(pageNumber - 1)", id: "prev-page")) }
        if pageNumber < pages { pager.append(H.link("Next →", "\(c.base)?\(prefix)page=\(pageNumber + 1)", id: "next-page")) }
        let returnQuery = fq + (pageNumber > 1 ? (fq.isEmpty ? "" : "&") + "page=\(pageNumber)" : "")
        let labelledCount = req.query[String.self, at: "labelled"].flatMap { Int($0) }.map { min(max($0, 0), 256) }
        var main: [HNode] = [uploader(c, tags: tags, csrf: csrf)]
        if let labelledCount { main.append(H.el("p", [("class", "flash"), ("id", "smart-result")], [H.text("\(labelledCount) images tagged.")])) }
        if filter.tagging == .untagged, let smart = try await SmartLabeler.gallery(req, account: c.account, project: c.project, base: c.base, images: shown, tags: tags, csrf: csrf) {
            main.append(smart)
        } else {
            main.append(selectionBar(c, tags: tags, filter: filter, matching: matching, returnQuery: returnQuery, csrf: csrf))
            main.append(try await grid(req, c, shown, tags: tags, filterQuery: returnQuery))
        }
        main.append(H.el("p", [("class", "pager"), ("id", "pager"), ("data-count", String(matching))], pager))
        main.append(H.el("script", [("src", "/js/upload.js")]))
        main.append(H.el("script", [("src", "/js/gallery.js")]))
        return try await ProjectWorkspace.page(req, c, tab: .images, error: error, status: status, [
            H.el("div", [("class", "split")], [sidebar, H.el("section", [("aria-label", "Images"), ("id", "images-pane")], main)]),
        ])
    }

    private func sidebar(_ c: ImagePages.Context, tags: [Tag], counts: [UUID: Int], filter: Filter, total: Int, untagged: Int,
                         csrf: String, newTag: String?) -> HNode {
        func filterLink(_ label: String, count: Int, href: String, value: String, active: Bool) -> HNode {
            H.el("a", [("href", href), ("data-filter", value), ("class", active ? "filter active" : "filter")]
                      + (active ? [("aria-current", "true")] : []), [H.text("\(label) (\(count))")])
        }
        let returnQuery = filter.queryString
        var items: [HNode] = [
            H.el("li", [], [filterLink("All", count: total, href: c.base, value: "all", active: filter.tagging == .all && filter.tagIDs.isEmpty)]),
            H.el("li", [], [filterLink("Tagged", count: total - untagged, href: "\(c.base)?tag=tagged", value: "tagged", active: filter.tagging == .tagged)]),
            H.el("li", [], [filterLink("Untagged", count: untagged, href: "\(c.base)?tag=untagged", value: "untagged", active: filter.tagging == .untagged)]),
        ]
        items += tags.map { t in
            let id = t.id!.uuidString.lowercased()
            let on = filter.tagIDs.contains(t.id!)
            let next = filter.toggling(t.id!).queryString
            return H.el("li", [("data-tag", id)], [
                filterLink(t.name, count: counts[t.id!] ?? 0, href: c.base + (next.isEmpty ? "" : "?" + next), value: id, active: on),
                H.el("details", [], [
                    H.el("summary", [], [H.text("Edit \(t.name)")]),
                    H.form(action: "\(c.base)/tags/\(id)/rename", csrf: csrf, [
                        H.void("input", [("type", "hidden"), ("name", "return"), ("value", returnQuery)]),
                        H.el("label", [], [H.text("New name"),
                                           H.void("input", [("type", "text"), ("name", "name"), ("value", t.name), ("maxlength", "256"),
                                                            ("required", "required"), ("class", "rename-tag")])]),
                        H.button("Rename", cls: "secondary"),
                    ]),
                    H.el("form", [("method", "post"), ("action", "\(c.base)/tags/\(id)/delete"),
                                  ("data-confirm", "Delete the tag \(t.name)? It is removed from \(Self.images(counts[t.id!] ?? 0)); the images stay.")], [
                        H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)]),
                        H.button("Delete tag", cls: "danger"),
                    ]),
                ]),
            ])
        }
        return H.el("aside", [("class", "sidebar"), ("aria-label", "Tags")], [
            H.el("h2", [], [H.text("Tags")]),
            H.el("ul", [("class", "tag-list"), ("id", "filters")], items),
            H.el("p", [("class", "hint")], [H.text(tags.isEmpty ? "No tags yet." : "Choose tags to show images with any of them.")]),
            H.form(action: "\(c.base)/tags", csrf: csrf, id: "add-tag", [
                H.void("input", [("type", "hidden"), ("name", "return"), ("value", returnQuery)]),
                H.el("label", [], [H.text("New tag"), H.void("input", [("type", "text"), ("name", "name"), ("id", "tag-name"), ("value", newTag ?? ""),
                                                                   ("required", "required"), ("maxlength", "256")])]),
                H.el("label", [], [H.text("Type"), H.el("select", [("name", "type"), ("id", "tag-type")], TagType.allCases.map {
                    H.el("option", [("value", $0.rawValue)], [H.text($0.rawValue)])
                })]),
                H.button("Add tag", id: "add-tag-button"),
            ]),
        ])
    }

    private func uploader(_ c: ImagePages.Context, tags: [Tag], csrf: String) -> HNode {
        H.el("div", [("id", "uploader"), ("class", "uploader"), ("data-upload", "\(c.base)/images"), ("data-csrf", csrf)], [
            H.el("div", [("id", "dropzone"), ("class", "dropzone")], [
                H.text("Drop images here or "),
                H.el("label", [("class", "pick")], [H.text("choose files"),
                    H.void("input", [("type", "file"), ("id", "file-input"), ("multiple", "multiple"), ("accept", "image/*")])]),
            ]),
            H.el("div", [("class", "batch-tags")], [H.el("span", [], [H.text(tags.isEmpty ? "Add a tag to tag images as they upload." : "Tags for this upload: ")])]
                 + tags.map { t in
                H.el("label", [("class", "inline")], [
                    H.void("input", [("type", "checkbox"), ("class", "batch-tag"), ("value", t.id!.uuidString.lowercased())]),
                    H.text(t.name),
                ])
            }),
            H.el("p", [("id", "upload-summary"), ("class", "upload-summary"), ("aria-live", "polite")]),
            H.el("ul", [("id", "upload-list"), ("class", "upload-list")]),
        ])
    }

    private func selectionBar(_ c: ImagePages.Context, tags: [Tag], filter: Filter, matching: Int, returnQuery: String, csrf: String) -> HNode {
        H.el("div", [("class", "selection-bar"), ("id", "selection-bar")], [
            H.el("span", [("class", "selection-count"), ("id", "selection-count"), ("aria-live", "polite")], [H.text("No images selected")]),
            H.el("button", [("type", "button"), ("class", "secondary"), ("id", "select-page")], [H.text("Select page")]),
            H.el("button", [("type", "button"), ("class", "secondary"), ("id", "select-all"), ("data-matching", String(matching))],
                 [H.text("Select all \(matching)")]),
            H.el("button", [("type", "button"), ("class", "secondary"), ("id", "select-none")], [H.text("Clear")]),
            H.el("form", [("method", "post"), ("action", "\(c.base)/bulk"), ("id", "bulk-form")], [
                H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)]),
                H.void("input", [("type", "hidden"), ("name", "imageIds"), ("id", "bulk-ids"), ("value", "")]),
                H.void("input", [("type", "hidden"), ("name", "scope"), ("id", "bulk-scope"), ("value", "selected")]),
                H.void("input", [("type", "hidden"), ("name", "filterTag"),
                                 ("value", filter.tagging == .untagged ? "untagged" : filter.tagging == .tagged ? "tagged" : "")]),
                H.void("input", [("type", "hidden"), ("name", "filterTags"), ("value", filter.tagIDs.map { $0.uuidString.lowercased() }.joined(separator: ","))]),
                H.void("input", [("type", "hidden"), ("name", "return"), ("value", returnQuery)]),
                H.el("label", [("class", "inline")], [H.text("Tag"), H.el("select", [("name", "tagId"), ("id", "bulk-tag")], tags.map {
                    H.el("option", [("value", $0.id!.uuidString.lowercased())], [H.text($0.name)])
                })]),
                H.el("button", [("type", "submit"), ("name", "action"), ("value", "tag"), ("id", "bulk-tag-button"), ("disabled", "disabled")], [H.text("Tag selected")]),
                H.el("button", [("type", "submit"), ("name", "action"), ("value", "untag"), ("class", "secondary"), ("id", "bulk-untag-button"),
                                ("disabled", "disabled")], [H.text("Untag selected")]),
                H.el("button", [("type", "submit"), ("name", "action"), ("value", "delete"), ("class", "danger"), ("id", "bulk-delete-button"),
                                ("disabled", "disabled")], [H.text("Delete selected")]),
            ]),
        ])
    }

    /// The thumbnails, each with a selection box and its tags as chips; a thumbnail opens
    /// the image viewer, which pages through the same filter.
    private func grid(_ req: Request, _ c: ImagePages.Context, _ shown: [ImageRecord], tags: [Tag], filterQuery: String) async throws -> HNode {
        let ids = shown.compactMap(\.id)
        var chips: [UUID: [UUID]] = [:]
        if !ids.isEmpty {
            for l in try await ImageTagLink.query(on: req.db).filter(\.$imageID ~~ ids).sort(\.$createdAt).all() { chips[l.imageID, default: []].append(l.tagID) }
            for r in try await ImageRegion.query(on: req.db).filter(\.$imageID ~~ ids).all() where !(chips[r.imageID]?.contains(r.tagID) ?? false) {
                chips[r.imageID, default: []].append(r.tagID)
            }
        }
        let names = Dictionary(tags.map { ($0.id!, $0.name) }, uniquingKeysWith: { a, _ in a })
        let signer = req.application.blobSigner, publicURL = req.application.settings.publicURL
        let suffix = filterQuery.isEmpty ? "" : "?" + filterQuery
        return H.el("div", [("class", "gallery"), ("id", "gallery")], shown.enumerated().map { i, img in
            let id = img.id!.uuidString.lowercased()
            let own = chips[img.id!] ?? []
            return H.el("div", [("class", "cell"), ("data-image", id)], [
                H.void("input", [("type", "checkbox"), ("class", "pick"), ("value", id), ("data-index", String(i)),
                                 ("aria-label", "Select image \(i + 1)")]),
                H.el("a", [("href", "\(c.base)/images/\(id)\(suffix)"), ("class", "thumb"), ("data-image", id)], [
                    H.void("img", [("src", signer.url(hash: img.thumbnailHash, base: publicURL)),
                                   ("alt", own.isEmpty ? "Untagged image" : "Image tagged " + own.compactMap { names[$0] }.joined(separator: ", ")),
                                   ("loading", "lazy")]),
                ]),
                H.el("div", [("class", "chips")], own.isEmpty ? [H.el("span", [("class", "chip untagged")], [H.text("untagged")])]
                     : own.map { H.el("span", [("class", "chip")], [H.text(names[$0] ?? "?")]) }),
            ])
        })
    }

    /// "1 image", "3 images".
    static func images(_ n: Int) -> String { n == 1 ? "1 image" : "\(n) images" }

    /// The projects of one account, shown on its page.
    static func section(_ req: Request, account a: Account, csrf: String) async throws -> [HNode] {
        let list = try await ProjectService(db: req.db, domains: req.application.domainCatalog).list(account: a)
        let catalog = req.application.domainCatalog
        return [
            H.el("h2", [], [H.text("Projects")]),
            list.isEmpty ? H.el("p", [], [H.text("No projects in this account yet. "), H.link("Create one on the Projects page.", "/projects", id: "to-projects")]) :
                H.el("div", [("class", "table-wrap")], [H.table(head: ["Name", "Domain", "Type"], rows: list.map { p in
                    [H.link(p.name, ProjectWorkspace.base(a, p)), H.text(catalog.domain(p.domainID)?.name ?? "?"), H.text(ProjectsHome.typeLabel(p))]
                }, id: "projects")]),
        ]
    }
}
