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
        struct Entry: Content { var status: String; var message: String; var id: String?; var thumbnailUri: String? }
        var images: [Entry]
    }

    func upload(req: Request) async throws -> UploadResult {
        let c = try await Context.load(req)
        guard let boundary = try MultipartBoundary.of(req.headers.contentType) else {
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
            .init(status: o.status, message: StatusWording.upload(o.status), id: o.image?.id?.uuidString.lowercased(),
                  thumbnailUri: o.image.map { signer.url(hash: $0.thumbnailHash, base: base) })
        })
    }

    func show(req: Request) async throws -> Response {
        let c = try await Context.load(req)
        return try await page(req, c, try await image(req, c))
    }


    /// The grid filter the viewer was opened from, carried through its forms.
    private func filterQuery(_ req: Request) -> String {
        let f = ProjectPages.Filter(req, field: { req.query[String.self, at: $0] ?? (try? req.content.get(String.self, at: $0)) })
        return f.queryString
    }

    private func viewerURL(_ c: Context, _ id: UUID, _ query: String) -> String {
        "\(c.base)/images/\(id.uuidString.lowercased())" + (query.isEmpty ? "" : "?" + query)
    }

    func addTag(req: Request) async throws -> Response {
        let c = try await Context.load(req)
        let img = try await image(req, c)
        let tagId = try req.content.get(String.self, at: "tagId")
        let query = filterQuery(req)
        if c.project.classificationType == "Multiclass",
           let other = try await ImageTagLink.query(on: req.db).filter(\.$imageID == img.id!).all().first(where: { $0.tagID.uuidString.lowercased() != tagId.lowercased() }) {
            let name = try await ImageService(db: req.db).projectTags(c.project)[other.tagID]?.name ?? "its tag"
            return req.redirect(to: viewerURL(c, img.id!, query), flash: nil,
                                error: "This multiclass project allows one tag per image. Remove \(name) first, or change the project to multilabel in Settings.")
        }
        do {
            _ = try await ImageService(db: req.db).addTags(project: c.project, pairs: [.init(imageId: img.id!.uuidString, tagId: tagId)])
        } catch let e as CVError {
            return req.redirect(to: viewerURL(c, img.id!, query), flash: nil, error: "Tag not added: \(e.message)")
        }
        return req.redirect(to: viewerURL(c, img.id!, query))
    }

    func removeTag(req: Request) async throws -> Response {
        let c = try await Context.load(req)
        let img = try await image(req, c)
        guard let tag = req.parameters.get("tagId", as: UUID.self) else { throw Abort(.notFound) }
        try await ImageService(db: req.db).removeTags(project: c.project, imageIDs: [img.id!], tagIDs: [tag])
        return req.redirect(to: viewerURL(c, img.id!, filterQuery(req)))
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
        let query = filterQuery(req)
        // The viewer moves on to the next image of the list, as the grid would show it.
        let place = try await ImageService(db: req.db).position(of: img, project: c.project,
            ProjectPages.Filter(req, field: { req.query[String.self, at: $0] ?? (try? req.content.get(String.self, at: $0)) }).query)
        let next = place.next ?? place.previous
        let freed = try await ImageService(db: req.db).delete(account: c.account, project: c.project, ids: [img.id!])
        BlobSweeper.freeLater(freed, app: req.application)
        if let next { return req.redirect(to: viewerURL(c, next, query), flash: "Image deleted.") }
        return req.redirect(to: c.base + (query.isEmpty ? "" : "?" + query), flash: "Image deleted.")
    }

    private func page(_ req: Request, _ c: Context, _ img: ImageRecord) async throws -> Response {
        let csrf = req.csrfToken
        let tags = try await TagService(db: req.db).list(project: c.project)
        let names = Dictionary(tags.map { ($0.id!, $0.name) }, uniquingKeysWith: { a, _ in a })
        let links = try await ImageTagLink.query(on: req.db).filter(\.$imageID == img.id!).sort(\.$createdAt).all()
        let regions = try await ImageRegion.query(on: req.db).filter(\.$imageID == img.id!).sort(\.$createdAt).all()
        let signer = req.application.blobSigner, base = req.application.settings.publicURL
        let imageBase = "\(c.base)/images/\(img.id!.uuidString.lowercased())"
        let detection = c.project.projectType == "ObjectDetection"
        let query = filterQuery(req)
        let carry = ProjectPages.Filter(req, field: { req.query[String.self, at: $0] }).hiddenFields
        // Previous and next in the list the viewer was opened from.
        let place = try await ImageService(db: req.db).position(of: img, project: c.project,
                                                                ProjectPages.Filter(req, field: { req.query[String.self, at: $0] }).query)
        let prev = place.previous, next = place.next
        func step(_ label: String, _ target: UUID?, id: String, rel: String) -> HNode {
            guard let target else { return H.el("span", [("class", "hint"), ("id", id)], [H.text(label)]) }
            return H.el("a", [("href", viewerURL(c, target, query)), ("id", id), ("rel", rel), ("class", "button secondary")], [H.text(label)])
        }
        let position = place.index.map { "Image \($0 + 1) of \(place.total)" } ?? "Image not in this list"
        var body: [HNode] = [
            H.el("div", [("class", "viewer-nav"), ("id", "viewer-nav")], [
                H.link("← Back to the images", c.base + (query.isEmpty ? "" : "?" + query), id: "back"),
                H.el("span", [("id", "viewer-position")], [H.text(position)]),
                H.el("span", [("class", "row")], [step("← Previous", prev, id: "prev-image", rel: "prev"), step("Next →", next, id: "next-image", rel: "next")]),
            ]),
        ]
        let regionJSON = String(decoding: try JSONEncoder().encode(regions.map {
            RegionBox(tagId: $0.tagID.uuidString.lowercased(), left: $0.left, top: $0.top, width: $0.width, height: $0.height)
        }), as: UTF8.self)
        let tagJSON = String(decoding: try JSONEncoder().encode(tags.map { ["id": $0.id!.uuidString.lowercased(), "name": $0.name] }), as: UTF8.self)
        var picture: [HNode] = []
        if detection {
            picture.append(H.el("div", [("class", "editor-frame")], [
                H.el("div", [("id", "box-editor"), ("class", "box-editor"), ("data-save", "\(imageBase)/regions"), ("tabindex", "0"),
                             ("role", "application"), ("aria-label", "Box editor. N: new box; [ and ]: choose a box; arrows: move it, Shift for larger steps; Alt+arrows: resize; Delete: remove; + and -: zoom."),
                             ("aria-describedby", "box-status"),
                             ("data-csrf", csrf), ("data-regions", regionJSON), ("data-tags", tagJSON)], [
                    H.void("img", [("src", signer.url(hash: img.resizedHash, base: base)), ("id", "editor-image"), ("alt", "The image being labelled"), ("draggable", "false")]),
                ]),
            ]))
            picture.append(H.el("div", [("class", "editor-tools")], [
                H.el("label", [], [H.text("Tag for boxes"), H.el("select", [("id", "box-tag")], tags.map {
                    H.el("option", [("value", $0.id!.uuidString.lowercased())], [H.text($0.name)])
                })]),
                H.el("button", [("type", "button"), ("id", "delete-box"), ("class", "secondary")], [H.text("Delete selected box")]),
                H.el("button", [("type", "button"), ("id", "suggest-boxes"), ("class", "secondary"), ("data-url", "\(imageBase)/proposals")],
                     [H.text("Suggest boxes")]),
                H.el("span", [("class", "row")], [
                    H.el("button", [("type", "button"), ("id", "zoom-out"), ("class", "secondary"), ("aria-label", "Zoom out")], [H.text("−")]),
                    H.el("span", [("id", "zoom-level")], [H.text("100%")]),
                    H.el("button", [("type", "button"), ("id", "zoom-in"), ("class", "secondary"), ("aria-label", "Zoom in")], [H.text("+")]),
                ]),
                H.el("span", [("id", "box-status"), ("class", "status"), ("aria-live", "polite")], [H.text(regions.count == 1 ? "1 box" : "\(regions.count) boxes")]),
            ]))
            picture.append(H.el("p", [("class", "hint")], [H.text("Drag on the image to draw a box; drag a box to move it, its corner to resize it. "
                + "With the keyboard, focus the image: N draws a box, [ and ] choose one, arrows move it, Alt+arrows resize, Delete removes. "
                + "Changes are saved at once. Suggest boxes adds what the latest trained iteration finds (50 % or more).")]))
        } else {
            picture.append(H.void("img", [("src", signer.url(hash: img.resizedHash, base: base)), ("class", "full"), ("alt", "The image being viewed"), ("id", "full-image")]))
        }
        let multiclass = c.project.classificationType == "Multiclass"
        var side: [HNode]
        if detection {
            // A detection image's tags are its boxes' tags.
            var perTag: [UUID: Int] = [:]
            for r in regions { perTag[r.tagID, default: 0] += 1 }
            side = [
                H.el("h2", [], [H.text("Boxes")]),
                H.el("ul", [("class", "chips-large"), ("id", "image-tags")], perTag.isEmpty ? [H.el("li", [("class", "chip untagged")], [H.text("no boxes yet")])]
                     : perTag.sorted { (names[$0.key] ?? "") < (names[$1.key] ?? "") }.map { H.el("li", [("class", "chip")], [H.text("\(names[$0.key] ?? "?") × \($0.value)")]) }),
                H.el("p", [("class", "hint")], [H.text("Object detection: draw a box for each object and choose its tag.")]),
            ]
        } else {
            side = [
                H.el("h2", [], [H.text("Tags")]),
                H.el("ul", [("class", "chips-large"), ("id", "image-tags")], links.isEmpty ? [H.el("li", [("class", "chip untagged")], [H.text("untagged")])] : links.map { l in
                    let name = names[l.tagID] ?? "?"
                    return H.el("li", [("class", "chip"), ("data-tag", l.tagID.uuidString.lowercased())], [
                        H.text(name),
                        H.form(action: "\(imageBase)/tags/\(l.tagID.uuidString.lowercased())/delete", csrf: csrf, carry + [
                            H.el("button", [("type", "submit"), ("id", "remove-\(l.tagID.uuidString.lowercased())"), ("aria-label", "Remove tag \(name)"), ("title", "Remove \(name)")], [H.text("×")]),
                        ]),
                    ])
                }),
                H.form(action: "\(imageBase)/tags", csrf: csrf, id: "add-image-tag", carry + [
                    H.el("label", [], [H.text("Add tag"), H.el("select", [("name", "tagId"), ("id", "image-tag-select")], tags.map {
                        H.el("option", [("value", $0.id!.uuidString.lowercased())], [H.text($0.name)])
                    })]),
                    H.button("Add", id: "add-image-tag-button"),
                ]),
                H.el("p", [("class", "hint")], [H.text(multiclass ? "Multiclass project: one tag per image." : "Multilabel project: an image may have several tags.")]),
            ]
        }
        side += [
            H.el("h2", [], [H.text("Details")]),
            H.el("p", [], [H.text("\(img.width) × \(img.height) px, \(img.format.uppercased()), added \(PortalDates.short(img.createdAt))")]),
            H.el("form", [("method", "post"), ("action", "\(imageBase)/delete"), ("id", "delete-image"), ("data-confirm", "Delete this image from the project?")],
                 [H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)])] + carry + [H.button("Delete image", cls: "danger")]),
        ]
        body.append(H.el("div", [("class", "viewer")], [H.el("div", [], picture), H.el("div", [("class", "panel")], side)]))
        if detection { body.append(H.el("script", [("src", "/js/boxes.js")])) }
        body.append(H.el("script", [("src", "/js/viewer.js")]))
        return try await ProjectWorkspace.page(req, c, tab: .images, body)
    }

    /// The box editor's suggestions: region proposals as boxes with their tags.
    func proposals(req: Request) async throws -> Response {
        let c = try await Context.load(req)
        guard let id = req.parameters.get("imageId", as: UUID.self) else { throw Abort(.notFound) }
        try await RateLimitMiddleware.check(account: c.account, kind: "prediction", on: req.db)
        let found = try await RegionProposalService(app: req.application, db: req.db).proposals(project: c.project, imageID: id, account: c.account)
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
