import Fluent
import Vapor

/// The Predictions tab: the images sent for prediction (stored ones) with their results,
/// filtered by iteration and sorted newest first or most uncertain first. Each opens a
/// viewer that shows the prediction (boxes for detection) and adds the image to the
/// training set with the tags the user confirms or corrects, several for multilabel.
struct PredictionPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("accounts", ":accountId", "projects", ":projectId", "predictions")
        p.get(use: list)
        p.get(":predictionId", use: show)
        p.post(":predictionId", "add", use: add)
        p.post(":predictionId", "delete", use: delete)
    }

    private func prediction(_ req: Request, _ c: ImagePages.Context) async throws -> StoredPrediction {
        guard let id = req.parameters.get("predictionId", as: UUID.self), let row = try await StoredPrediction.find(id, on: req.db),
              row.projectID == c.project.id else { throw Abort(.notFound) }
        return row
    }

    private func results(_ row: StoredPrediction) -> [WirePrediction] {
        ((try? JSONDecoder().decode([WirePrediction].self, from: Data(row.resultsJSON.utf8))) ?? []).sorted { $0.probability > $1.probability }
    }

    /// How unsure the model was: 1 when its best guess sat at 50 %, 0 at 0 or 100 %.
    static func uncertainty(_ predictions: [WirePrediction]) -> Double {
        guard let top = predictions.map(\.probability).max() else { return 1 }
        return 1 - abs(Double(top) - 0.5) * 2
    }

    func list(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let csrf = req.csrfToken
        let iterations = try await TrainingService(db: req.db).iterations(c.project)
        let wanted = req.query[String.self, at: "iteration"].flatMap { UUID(uuidString: $0) }
        let sort = req.query[String.self, at: "sort"] == "uncertain" ? "uncertain" : "newest"
        var q = StoredPrediction.query(on: req.db).filter(\.$projectID == c.project.id!)
        if let wanted { q = q.filter(\.$iterationID == wanted) }
        var rows = try await q.sort(\.$createdAt, .descending).limit(500).all()
        if sort == "uncertain" {
            let scored = rows.map { ($0, Self.uncertainty(results($0))) }
            rows = scored.sorted { $0.1 > $1.1 }.map(\.0)
        }
        rows = Array(rows.prefix(100))
        let tags = try await TagService(db: req.db).list(project: c.project)
        let names = Dictionary(iterations.map { ($0.id!, $0.name) }, uniquingKeysWith: { a, _ in a })
        let signer = req.application.blobSigner, base = req.application.settings.publicURL
        let detection = c.project.projectType == "ObjectDetection"
        let multiclass = c.project.classificationType == "Multiclass"
        let items: [HNode] = rows.map { row in
            let predictions = results(row)
            let id = row.id!.uuidString.lowercased()
            let viewer = "\(c.base)/predictions/\(id)"
            var parts: [HNode] = [
                H.el("a", [("href", viewer), ("aria-label", "Open prediction")], [
                    H.void("img", [("src", signer.url(hash: row.blobHash, base: base)), ("alt", "Predicted image"), ("class", "thumb-small")]),
                ]),
            ]
            if detection {
                let shown = predictions.filter { $0.probability >= StoredPredictionsController.regionThreshold }
                parts.append(H.el("div", [], [
                    H.el("p", [], [H.text("\(shown.count) object\(shown.count == 1 ? "" : "s") at 50 % or more: "
                                          + shown.prefix(5).map { "\($0.tagName) \(String(format: "%.0f", $0.probability * 100))%" }.joined(separator: ", "))]),
                    H.el("p", [("class", "hint")], [H.text("\(names[row.iterationID] ?? "Deleted iteration") · \(PortalDates.short(row.createdAt))")]),
                ]))
                parts.append(H.form(action: "\(c.base)/predictions/\(id)/add", csrf: csrf, [H.button("Add with these boxes", cls: "add-prediction")]))
            } else {
                parts.append(H.el("div", [], predictions.prefix(3).map { p in
                    H.el("div", [("class", "usage prediction")], [
                        H.el("span", [], [H.text("\(p.tagName): \(String(format: "%.1f", p.probability * 100))%")]),
                        H.fill(Double(p.probability)),
                    ])
                } + [H.el("p", [("class", "hint")], [H.text("\(names[row.iterationID] ?? "Deleted iteration") · \(PortalDates.short(row.createdAt))")])]))
                let top = predictions.first?.tagId
                parts.append(H.form(action: "\(c.base)/predictions/\(id)/add", csrf: csrf, [
                    H.el("label", [], [H.text("Tag"), H.el("select", [("name", "tagId"), ("class", "confirm-tag")], tags.map { t in
                        H.el("option", [("value", t.id!.uuidString.lowercased())] + (t.id!.uuidString.lowercased() == top ? [("selected", "selected")] : []),
                             [H.text(t.name)])
                    })]),
                    H.button("Add to training set", cls: "add-prediction"),
                    H.text(" "),
                    H.link(multiclass ? "Open" : "Open to choose several tags", viewer),
                ]))
            }
            parts.append(H.el("form", [("method", "post"), ("action", "\(c.base)/predictions/\(id)/delete"), ("data-confirm", "Delete this stored prediction?")], [
                H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)]), H.button("Delete", cls: "delete-prediction secondary"),
            ]))
            return H.el("div", [("class", "stored-prediction"), ("data-prediction", id)], parts)
        }
        let controls = H.el("form", [("method", "get"), ("action", "\(c.base)/predictions"), ("class", "row panel"), ("id", "prediction-filters")], [
            H.el("label", [], [H.text("Iteration"), H.el("select", [("name", "iteration"), ("id", "prediction-iteration")],
                [H.el("option", [("value", "")], [H.text("All iterations")])] + iterations.map { it in
                    H.el("option", [("value", it.id!.uuidString.lowercased())] + (it.id == wanted ? [("selected", "selected")] : []), [H.text(it.name)])
                })]),
            H.el("label", [], [H.text("Sort"), H.el("select", [("name", "sort"), ("id", "prediction-sort")], [
                H.el("option", [("value", "newest")] + (sort == "newest" ? [("selected", "selected")] : []), [H.text("Newest first")]),
                H.el("option", [("value", "uncertain")] + (sort == "uncertain" ? [("selected", "selected")] : []), [H.text("Most uncertain first")]),
            ])]),
            H.button("Show", id: "prediction-filter-button", cls: "secondary"),
        ])
        let body: [HNode] = [
            controls,
            rows.isEmpty ? H.el("p", [("class", "panel"), ("id", "no-predictions")], [H.text("No stored predictions. Images sent to a published iteration, and quick tests, appear here.")])
                : H.el("div", [("id", "predictions")], items),
        ]
        return try await ProjectWorkspace.page(req, c, tab: .predictions, body)
    }

    /// One prediction: the image with its results, and the tags to add it with.
    func show(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let row = try await prediction(req, c)
        let predictions = results(row)
        let csrf = req.csrfToken
        let tags = try await TagService(db: req.db).list(project: c.project)
        let image = req.application.blobSigner.url(hash: row.blobHash, base: req.application.settings.publicURL)
        let id = row.id!.uuidString.lowercased()
        var body: [HNode] = [H.el("p", [], [H.link("← Back to the predictions", "\(c.base)/predictions", id: "back")])]
        if c.project.projectType == "ObjectDetection" {
            body.append(H.el("div", [("class", "viewer")], [
                DetectionOverlay.node(imageURL: image, predictions: predictions, id: "prediction-view"),
                H.el("div", [("class", "panel")], [
                    H.el("p", [], [H.text("The boxes at or above 50 % become the image's regions; the box editor opens next, to correct them.")]),
                    H.form(action: "\(c.base)/predictions/\(id)/add", csrf: csrf, [H.button("Add to training set", id: "add-prediction", cls: "add-prediction")]),
                ]),
            ]))
            body.append(H.el("script", [("src", "/js/detections.js")]))
        } else {
            let multiclass = c.project.classificationType == "Multiclass"
            let probability = Dictionary(predictions.map { ($0.tagId, $0.probability) }, uniquingKeysWith: { a, _ in a })
            let top = predictions.first?.tagId
            body.append(H.el("div", [("class", "viewer")], [
                H.void("img", [("src", image), ("alt", "Predicted image"), ("class", "full")]),
                H.el("div", [("class", "panel")], [
                    H.el("h2", [], [H.text("Prediction")]),
                ] + predictions.prefix(5).map { p in
                    H.el("div", [("class", "usage prediction")], [
                        H.el("span", [], [H.text("\(p.tagName): \(String(format: "%.1f", p.probability * 100))%")]), H.fill(Double(p.probability)),
                    ])
                } + [
                    H.form(action: "\(c.base)/predictions/\(id)/add", csrf: csrf, id: "correct-form", [
                        H.el("fieldset", [], [H.el("legend", [], [H.text(multiclass ? "Its tag" : "Its tags")])] + tags.map { t in
                            let tid = t.id!.uuidString.lowercased()
                            let on = multiclass ? tid == top : (probability[tid] ?? 0) >= 0.5
                            return H.el("label", [("class", "inline")], [
                                H.void("input", [("type", multiclass ? "radio" : "checkbox"), ("name", multiclass ? "tagId" : "tagIds[]"), ("value", tid),
                                                 ("class", "correct-tag")] + (on ? [("checked", "checked")] : [])),
                                H.text(t.name),
                            ])
                        }),
                        H.button("Add to training set", id: "add-prediction", cls: "add-prediction"),
                    ]),
                ]),
            ]))
        }
        return try await ProjectWorkspace.page(req, c, tab: .predictions, body)
    }

    func add(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let row = try await prediction(req, c)
        let blobs = req.application.blobStore
        let data = try await blobs.read(row.blobHash)
        var item = IngestItem(data: data)
        if c.project.projectType == "ObjectDetection" {
            // The boxes drawn at the default threshold become the image's regions.
            let known = Set(try await ImageService(db: req.db).projectTags(c.project).keys.map { $0.uuidString.lowercased() })
            item.regions = results(row).compactMap { p in
                guard p.probability >= StoredPredictionsController.regionThreshold, known.contains(p.tagId), let b = p.boundingBox else { return nil }
                let r = RegionBox(tagId: p.tagId, left: b.left, top: b.top, width: b.width, height: b.height)
                return r.isValid ? r : nil
            }
        } else {
            var chosen = (try? req.content.get([String].self, at: "tagIds")) ?? []
            if let one = try? req.content.get(String.self, at: "tagId") { chosen.append(one) }
            chosen = Array(Set(chosen.prefix(100)))
            if c.project.classificationType == "Multiclass", chosen.count > 1 { chosen = [chosen[0]] }
            guard !chosen.isEmpty else {
                return req.redirect(to: "\(c.base)/predictions/\(row.id!.uuidString.lowercased())", flash: nil, error: "Choose at least one tag for the image.")
            }
            item.tagIDs = chosen
        }
        let outcome = try await ImageIngestor(db: req.db, blobs: req.application.blobStore, decoder: req.application.decodePool, settings: req.application.settings)
            .ingest(account: c.account, project: c.project, items: [item], batchTagIDs: [], metadata: [:])
        let status = outcome.first?.status ?? "ErrorUnknown"
        if status == "OK" || status == "OKDuplicate" {
            try await row.delete(on: req.db)
            // A detection image opens in the box editor, where its boxes are corrected.
            if c.project.projectType == "ObjectDetection", status == "OK", let added = outcome.first?.image?.id {
                let boxes = item.regions.count
                return req.redirect(to: "\(c.base)/images/\(added.uuidString.lowercased())",
                                    flash: "Added to the training set with \(boxes) \(boxes == 1 ? "box" : "boxes"): correct them here.")
            }
            return req.redirect(to: "\(c.base)/predictions", flash: status == "OK" ? "Added to the training set." : "That image is already in the training set.")
        }
        return req.redirect(to: "\(c.base)/predictions", flash: nil, error: "Not added: \(StatusWording.upload(status)).")
    }

    func delete(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        try await prediction(req, c).delete(on: req.db)
        return req.redirect(to: "\(c.base)/predictions", flash: "Prediction deleted.")
    }
}
