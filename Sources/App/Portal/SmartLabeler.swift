import Fluent
import Vapor

/// The Smart labeler on the untagged filter of a classification project: each thumbnail
/// shows the tag the project's newest trained iteration suggests for it; tick images, then
/// confirm their suggestions or give them all one tag, in one action.
struct SmartLabeler: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        routes.grouped("accounts", ":accountId", "projects", ":projectId", "smart-labeler").post(use: confirm)
    }

    struct Form: Content {
        var images: [String]?
        var tagId: String?
    }

    /// The iteration whose suggestions the labeler shows: the newest Completed one.
    static func iteration(_ project: Project, db: Database) async throws -> Iteration? {
        try await Iteration.query(on: db).filter(\.$projectID == project.id!).filter(\.$status == "Completed")
            .sort(\.$number, .descending).first()
    }

    /// The images' suggestions; once the month's predictions are spent, those already made.
    static func suggestions(_ req: Request, account: Account, project: Project, iteration: Iteration,
                            images: [ImageRecord]) async throws -> [UUID: Suggestion] {
        let service = SuggestionService(app: req.application, db: req.db)
        do { return try await service.suggestions(project: project, iteration: iteration, images: images, account: account) } catch is QuotaLedger.Exceeded {
            return try await service.suggestions(project: project, iteration: iteration, images: images, account: account, predictNew: false)
        }
    }

    /// The gallery of untagged images as the labeler's form; nil when there is nothing to suggest with.
    static func gallery(_ req: Request, account: Account, project: Project, base: String, images: [ImageRecord], tags: [Tag], csrf: String) async throws -> HNode? {
        guard project.projectType != "ObjectDetection", !images.isEmpty,
              let it = try await iteration(project, db: req.db) else { return nil }
        let found = try await suggestions(req, account: account, project: project, iteration: it, images: images)
        let names = Dictionary(uniqueKeysWithValues: tags.map { ($0.id!.uuidString.lowercased(), $0.name) })
        let signer = req.application.blobSigner, publicURL = req.application.settings.publicURL
        return H.form(action: "\(base)/smart-labeler", csrf: csrf, id: "smart-labeler", [
            H.el("p", [("class", "smart-intro")], [H.text("Smart labeler: the tags \(it.name) suggests. Tick images, then confirm their suggestions or give them one tag.")]),
            H.el("div", [("class", "gallery"), ("id", "gallery")], images.map { img in
                let id = img.id!.uuidString.lowercased()
                let top = found[img.id!]?.predictions.max { $0.probability < $1.probability }
                let chip = top.map { "\(names[$0.tagID] ?? "?") \(Int(($0.probability * 100).rounded())) %" } ?? "no suggestion"
                return H.el("div", [("class", "thumb suggested"), ("data-image", id)], [
                    H.el("label", [], [
                        H.void("input", [("type", "checkbox"), ("name", "images[]"), ("value", id), ("class", "smart-pick"),
                                         ("aria-label", "Select this image (suggested: \(chip))")]),
                        H.void("img", [("src", signer.url(hash: img.thumbnailHash, base: publicURL)), ("alt", "untagged image"), ("loading", "lazy")]),
                    ]),
                    H.el("span", [("class", "chip suggestion"), ("data-tag", top?.tagID ?? "")], [H.text(chip)]),
                    H.link("Open", "\(base)/images/\(id)"),
                ])
            }),
            H.el("label", [], [H.text("Tag the selected images with"), H.el("select", [("name", "tagId"), ("id", "smart-tag")],
                [H.el("option", [("value", "")], [H.text("each image's suggested tag")])]
                + tags.map { H.el("option", [("value", $0.id!.uuidString.lowercased())], [H.text($0.name)]) })]),
            H.button("Tag selected", id: "smart-confirm"),
        ])
    }

    func confirm(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let form = try req.content.decode(Form.self)
        let ids = (form.images ?? []).prefix(256).compactMap { UUID(uuidString: $0) }
        let back = "\(c.base)?tag=untagged"
        guard !ids.isEmpty else { return req.redirect(to: back + "&labelled=0") }
        var pairs: [ImageService.TagPair] = []
        // Only images and tags that still exist: one deleted meanwhile must not fail the others.
        let known = try await ImageService(db: req.db).projectTags(c.project)
        var q = ImageQuery()
        q.ids = ids
        q.take = ids.count
        let images = try await ImageService(db: req.db).list(project: c.project, q)
        if let tag = form.tagId, !tag.isEmpty {
            guard let t = UUID(uuidString: tag), known[t] != nil else { return req.redirect(to: back + "&labelled=0") }
            pairs = images.map { ImageService.TagPair(imageId: $0.id!.uuidString, tagId: t.uuidString) }
        } else if let it = try await Self.iteration(c.project, db: req.db) {
            let found = try await Self.suggestions(req, account: c.account, project: c.project, iteration: it, images: images)
            for img in images {
                if let top = found[img.id!]?.predictions.max(by: { $0.probability < $1.probability }),
                   let t = UUID(uuidString: top.tagID), known[t] != nil {
                    pairs.append(ImageService.TagPair(imageId: img.id!.uuidString, tagId: top.tagID))
                }
            }
        }
        let done = pairs.isEmpty ? 0 : try await ImageService(db: req.db).addTags(project: c.project, pairs: pairs).created.count
        // Post/redirect/get: a reload does not tag again.
        return req.redirect(to: back + "&labelled=\(done)")
    }
}
