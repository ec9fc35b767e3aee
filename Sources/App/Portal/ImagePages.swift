import Fluent
import Vapor

/// The portal's image pages: upload (one XHR per file, for progress bars), the image
/// page with its tags, and the box editor's save. Same services as the Training API.
struct ImagePages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("accounts", ":accountId", "projects", ":projectId", "images")
        p.on(.POST, body: .collect(maxSize: "7mb"), use: upload)
        p.get(":imageId", use: show)
        p.post(":imageId", "tags", use: addTag)
        p.post(":imageId", "tags", ":tagId", "delete", use: removeTag)
        p.post(":imageId", "regions", use: saveRegions)
        p.post(":imageId", "proposals", use: proposals)
        p.post(":imageId", "delete", use: delete)
    }

    struct Context {
        let account: Account
        let project: Project
        var base: String { "/accounts/\(account.id!.uuidString.lowercased())/projects/\(project.id!.uuidString.lowercased())" }
    }

}

extension ImagePages.Context {
    /// The signed-in user's account and project named in the path; 404 otherwise.
    static func load(_ req: Request) async throws -> ImagePages.Context {
        let a = try await AccountService(db: req.db).find(owner: req.portalUser!, id: req.parameters.get("accountId") ?? "")
        do {
            let p = try await ProjectService(db: req.db, domains: req.application.domainCatalog)
                .find(account: a, id: req.parameters.get("projectId") ?? "")
            return ImagePages.Context(account: a, project: p)
        } catch is CVError { throw Abort(.notFound) }
    }
}

extension ImagePages {

    private func image(_ req: Request, _ c: Context) async throws -> ImageRecord {
        guard let id = req.parameters.get("imageId", as: UUID.self), let img = try await ImageRecord.find(id, on: req.db),
              img.projectID == c.project.id else { throw Abort(.notFound) }
        return img
    }

    struct UploadResult: Content {
        struct Entry: Content { var status: String; var id: String?; var thumbnailUri: String? }
        var images: [Entry]
    }

    func upload(req: Request) async throws -> UploadResult {
        let c = try await Context.load(req)
        guard let type = req.headers.contentType, type.type == "multipart", let boundary = type.parameters["boundary"] else {
            throw CVError(.unsupportedMediaType, "UnsupportedMediaType", "Send the files as multipart/form-data.")
        }
        var items: [IngestItem] = []
        var tagIDs: [String] = []
        for part in try RequestBodyReader.parts(req.body.data ?? ByteBuffer(), boundary: boundary) {
            if part.name == "tagIds" { tagIDs += String(buffer: part.body).split(separator: ",").map(String.init) }
            else if part.name == "imageData" { items.append(IngestItem(data: Data(buffer: part.body))) }
        }
        let outcomes = try await ImageIngestor(db: req.db, blobs: req.application.blobStore, decoder: req.application.decodePool, settings: req.application.settings)
            .ingest(account: c.account, project: c.project, items: items, batchTagIDs: tagIDs, metadata: [:])
        let signer = req.application.blobSigner, base = req.application.settings.publicURL
        return UploadResult(images: outcomes.map { o in
            .init(status: o.status, id: o.image?.id?.uuidString.lowercased(),
                  thumbnailUri: o.image.map { signer.url(hash: $0.thumbnailHash, base: base) })
        })
    }

    func show(req: Request) async throws -> Response {
        let c = try await Context.load(req)
        return try await page(req, c, try await image(req, c))
    }

    func addTag(req: Request) async throws -> Response {
        let c = try await Context.load(req)
        let img = try await image(req, c)
        let tagId = try req.content.get(String.self, at: "tagId")
        do {
            _ = try await ImageService(db: req.db).addTags(project: c.project, pairs: [.init(imageId: img.id!.uuidString, tagId: tagId)])
        } catch let e as CVError {
            return try await page(req, c, img, error: e.message, status: e.status)
        }
        return req.redirect(to: "\(c.base)/images/\(img.id!.uuidString.lowercased())")
    }

    func removeTag(req: Request) async throws -> Response {
        let c = try await Context.load(req)
        let img = try await image(req, c)
        guard let tag = req.parameters.get("tagId", as: UUID.self) else { throw Abort(.notFound) }
        try await ImageService(db: req.db).removeTags(project: c.project, imageIDs: [img.id!], tagIDs: [tag])
        return req.redirect(to: "\(c.base)/images/\(img.id!.uuidString.lowercased())")
    }

    func saveRegions(req: Request) async throws -> [WireImageRegion] {
        let c = try await Context.load(req)
        let img = try await image(req, c)
        let boxes = try req.content.decode([RegionBox].self)
        let saved = try await ImageService(db: req.db).replaceRegions(project: c.project, imageID: img.id!, boxes: boxes)
        let names = try await ImageService(db: req.db).projectTags(c.project).mapValues(\.name)
        return saved.map {
            WireImageRegion($0, tagName: names[$0.tagID])
        }
    }

    func delete(req: Request) async throws -> Response {
        let c = try await Context.load(req)
        let img = try await image(req, c)
        let freed = try await ImageService(db: req.db).delete(account: c.account, project: c.project, ids: [img.id!])
        BlobSweeper.freeLater(freed, app: req.application)
        return req.redirect(to: c.base)
    }

    private func page(_ req: Request, _ c: Context, _ img: ImageRecord, error: String? = nil,
                      status: HTTPResponseStatus = .ok) async throws -> Response {
        let csrf = req.csrfToken
        let tags = try await TagService(db: req.db).list(project: c.project)
        let names = Dictionary(tags.map { ($0.id!, $0.name) }, uniquingKeysWith: { a, _ in a })
        let links = try await ImageTagLink.query(on: req.db).filter(\.$imageID == img.id!).sort(\.$createdAt).all()
        let regions = try await ImageRegion.query(on: req.db).filter(\.$imageID == img.id!).sort(\.$createdAt).all()
        let signer = req.application.blobSigner, base = req.application.settings.publicURL
        let imageBase = "\(c.base)/images/\(img.id!.uuidString.lowercased())"
        let detection = c.project.projectType == "ObjectDetection"
        let regionJSON = String(decoding: try JSONEncoder().encode(regions.map {
            RegionBox(tagId: $0.tagID.uuidString.lowercased(), left: $0.left, top: $0.top, width: $0.width, height: $0.height)
        }), as: UTF8.self)
        let tagJSON = String(decoding: try JSONEncoder().encode(tags.map { ["id": $0.id!.uuidString.lowercased(), "name": $0.name] }), as: UTF8.self)
        var body: [HNode] = [
            H.el("p", [], [H.link("← \(c.project.name)", c.base, id: "back")]),
            H.el("p", [], [H.text("\(img.width) × \(img.height) px, \(img.format.uppercased())")]),
        ]
        if detection {
            body.append(H.el("div", [("id", "box-editor"), ("class", "box-editor"), ("data-save", "\(imageBase)/regions"),
                                     ("data-csrf", csrf), ("data-regions", regionJSON), ("data-tags", tagJSON)], [
                H.void("img", [("src", signer.url(hash: img.resizedHash, base: base)), ("id", "editor-image"), ("alt", "image"), ("draggable", "false")]),
            ]))
            body.append(H.el("div", [("class", "editor-tools")], [
                H.el("label", [], [H.text("Tag for boxes"), H.el("select", [("id", "box-tag")], tags.map {
                    H.el("option", [("value", $0.id!.uuidString.lowercased())], [H.text($0.name)])
                })]),
                H.el("button", [("type", "button"), ("id", "delete-box")], [H.text("Delete selected box")]),
                H.el("button", [("type", "button"), ("id", "suggest-boxes"), ("data-url", "\(imageBase)/proposals")],
                     [H.text("Suggest boxes")]),
                H.el("span", [("id", "box-status"), ("class", "status")], [H.text("\(regions.count) box(es)")]),
            ]))
            body.append(H.el("p", [("class", "hint")], [H.text("Drag on the image to draw a box; drag a box to move it, its corner to resize it. Changes are saved at once. "
                                                                   + "Suggest boxes adds what the latest trained iteration finds (50 % or more) for you to keep, fix or delete.")]))
        } else {
            body.append(H.void("img", [("src", signer.url(hash: img.resizedHash, base: base)), ("class", "full"), ("alt", "image"), ("id", "full-image")]))
        }
        body.append(H.el("h2", [], [H.text("Tags")]))
        body.append(H.el("ul", [("id", "image-tags")], links.map { l in
            H.el("li", [], [H.text(names[l.tagID] ?? "?"), H.text(" "),
                            H.form(action: "\(imageBase)/tags/\(l.tagID.uuidString.lowercased())/delete", csrf: csrf,
                                   [H.button("Remove", id: "remove-\(names[l.tagID] ?? "")")])])
        }))
        body.append(H.form(action: "\(imageBase)/tags", csrf: csrf, id: "add-image-tag", [
            H.el("label", [], [H.text("Add tag"), H.el("select", [("name", "tagId"), ("id", "image-tag-select")], tags.map {
                H.el("option", [("value", $0.id!.uuidString.lowercased())], [H.text($0.name)])
            })]),
            H.button("Add", id: "add-image-tag-button"),
        ]))
        body.append(H.form(action: "\(imageBase)/delete", csrf: csrf, id: "delete-image", [H.button("Delete image", cls: "danger")]))
        if detection { body.append(H.el("script", [("src", "/js/boxes.js")])) }
        return .html(PortalLayout.page(title: "Image in \(c.project.name)", user: req.portalUser, csrf: csrf, error: error, body), status: status)
    }

    /// The box editor's suggestions: region proposals as boxes with their tags.
    func proposals(req: Request) async throws -> Response {
        let c = try await Context.load(req)
        guard let id = req.parameters.get("imageId", as: UUID.self) else { throw Abort(.notFound) }
        try await RateLimitMiddleware.check(account: c.account, kind: "prediction", on: req.db)
        let found = try await RegionProposalService(app: req.application, db: req.db).proposals(project: c.project, imageID: id)
        struct Suggestion: Encodable { var tagId: String; var confidence: Float; var left: Double; var top: Double; var width: Double; var height: Double }
        let out = found.map { p -> Suggestion in
            let b = WireBoundingBox(p.box)
            return Suggestion(tagId: p.tagID, confidence: p.confidence, left: b.left, top: b.top, width: b.width, height: b.height)
        }
        var headers = HTTPHeaders()
        headers.contentType = .json
        return Response(status: .ok, headers: headers, body: .init(data: try JSONEncoder().encode(out)))
    }
}
