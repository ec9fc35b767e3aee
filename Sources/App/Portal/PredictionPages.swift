import Fluent
import Vapor

/// Stored predictions in the portal: each with its image and top tags; the user confirms
/// or corrects the tag and adds the image to the training set.
struct PredictionPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("accounts", ":accountId", "projects", ":projectId", "predictions")
        p.get(use: list)
        p.post(":predictionId", "add", use: add)
        p.post(":predictionId", "delete", use: delete)
    }

    private func prediction(_ req: Request, _ c: ImagePages.Context) async throws -> StoredPrediction {
        guard let id = req.parameters.get("predictionId", as: UUID.self), let row = try await StoredPrediction.find(id, on: req.db),
              row.projectID == c.project.id else { throw Abort(.notFound) }
        return row
    }

    func list(req: Request) async throws -> Response {
        try await page(req, try await ImagePages.Context.load(req))
    }

    private func page(_ req: Request, _ c: ImagePages.Context, flash: String? = nil, error: String? = nil) async throws -> Response {
        let csrf = req.csrfToken
        let rows = try await StoredPrediction.query(on: req.db).filter(\.$projectID == c.project.id!)
            .sort(\.$createdAt, .descending).limit(100).all()
        let tags = try await TagService(db: req.db).list(project: c.project)
        let signer = req.application.blobSigner, base = req.application.settings.publicURL
        let detection = c.project.projectType == "ObjectDetection"
        let items: [HNode] = rows.map { row in
            let predictions = (try? JSONDecoder().decode([WirePrediction].self, from: Data(row.resultsJSON.utf8))) ?? []
            let top = predictions.first?.tagId
            let id = row.id!.uuidString.lowercased()
            if detection {
                return H.el("div", [("class", "stored-prediction"), ("data-prediction", id)], [
                    DetectionOverlay.node(imageURL: signer.url(hash: row.blobHash, base: base), predictions: predictions),
                    H.form(action: "\(c.base)/predictions/\(id)/add", csrf: csrf, [
                        H.button("Add to training set with the boxes shown at 50 %", cls: "add-prediction"),
                    ]),
                    H.form(action: "\(c.base)/predictions/\(id)/delete", csrf: csrf, [H.button("Delete", cls: "delete-prediction")]),
                ])
            }
            return H.el("div", [("class", "stored-prediction"), ("data-prediction", id)], [
                H.void("img", [("src", signer.url(hash: row.blobHash, base: base)), ("alt", "predicted image"), ("class", "thumb-small")]),
                H.el("div", [], predictions.prefix(3).map { p in
                    H.el("div", [("class", "usage prediction")], [
                        H.el("span", [], [H.text("\(p.tagName): \(String(format: "%.1f", p.probability * 100))%")]),
                        H.fill(Double(p.probability)),
                    ])
                }),
                H.form(action: "\(c.base)/predictions/\(id)/add", csrf: csrf, [
                    H.el("select", [("name", "tagId"), ("class", "confirm-tag")], tags.map { t in
                        H.el("option", [("value", t.id!.uuidString.lowercased())] + (t.id!.uuidString.lowercased() == top ? [("selected", "selected")] : []),
                             [H.text(t.name)])
                    }),
                    H.button("Add to training set", cls: "add-prediction"),
                ]),
                H.form(action: "\(c.base)/predictions/\(id)/delete", csrf: csrf, [H.button("Delete", cls: "delete-prediction")]),
            ])
        }
        let body: [HNode] = [
            H.el("p", [], [H.link("← \(c.project.name)", c.base, id: "back")]),
            rows.isEmpty ? H.el("p", [], [H.text("No stored predictions yet.")]) : H.el("div", [("id", "predictions")], items),
        ] + (detection ? [H.el("script", [("src", "/js/detections.js")])] : [])
        return .html(PortalLayout.page(title: "Predictions", user: req.portalUser, csrf: csrf, flash: flash, error: error, body))
    }

    func add(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let row = try await prediction(req, c)
        let blobs = req.application.blobStore
        let data = try await req.application.threadPool.runIfActive { try blobs.read(row.blobHash) }
        var item = IngestItem(data: data)
        if c.project.projectType == "ObjectDetection" {
            // The boxes drawn at the default threshold become the image's regions.
            let known = Set(try await ImageService(db: req.db).projectTags(c.project).keys.map { $0.uuidString.lowercased() })
            let predictions = (try? JSONDecoder().decode([WirePrediction].self, from: Data(row.resultsJSON.utf8))) ?? []
            item.regions = predictions.compactMap { p in
                guard p.probability >= StoredPredictionsController.regionThreshold, known.contains(p.tagId), let b = p.boundingBox else { return nil }
                let r = RegionBox(tagId: p.tagId, left: b.left, top: b.top, width: b.width, height: b.height)
                return r.isValid ? r : nil
            }
        } else {
            item.tagIDs = [try req.content.get(String.self, at: "tagId")]
        }
        let outcome = try await ImageIngestor(db: req.db, blobs: req.application.blobStore, decoder: req.application.decodePool, settings: req.application.settings)
            .ingest(account: c.account, project: c.project, items: [item], batchTagIDs: [], metadata: [:])
        let status = outcome.first?.status ?? "ErrorUnknown"
        if status == "OK" || status == "OKDuplicate" {
            try await row.delete(on: req.db)
            return try await page(req, c, flash: status == "OK" ? "Added to the training set." : "That image is already in the training set.")
        }
        return try await page(req, c, error: "Not added: \(status)")
    }

    func delete(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        try await prediction(req, c).delete(on: req.db)
        return try await page(req, c, flash: "Deleted.")
    }
}
