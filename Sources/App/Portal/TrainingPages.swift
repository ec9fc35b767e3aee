import Fluent
import Vapor
import VisionEngine

/// Training in the portal: the Train button (Quick or Advanced with a budget), live
/// progress, iterations, the performance page with an exact threshold slider and the PR
/// curves as inline SVG, publish/unpublish, and a quick test.
struct TrainingPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("accounts", ":accountId", "projects", ":projectId")
        p.post("train", use: train)
        p.get("iterations.json", use: status)
        p.get("iterations", ":iterationId", use: iteration)
        p.post("iterations", ":iterationId", "publish", use: publish)
        p.post("iterations", ":iterationId", "unpublish", use: unpublish)
        p.post("iterations", ":iterationId", "export", use: export)
        p.on(.POST, "iterations", ":iterationId", "quicktest", body: .collect(maxSize: ByteCount(value: RequestBodyReader.prediction)), use: quickTest)
    }

    private func it(_ req: Request, _ c: ImagePages.Context) async throws -> Iteration {
        do { return try await TrainingService(db: req.db).iteration(c.project, id: req.parameters.get("iterationId") ?? "") }
        catch is CVError { throw Abort(.notFound) }
    }

    func train(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let advanced = (try? req.content.get(String.self, at: "trainingType")) == "Advanced"
        let budget = Int((try? req.content.get(String.self, at: "budget")) ?? "0") ?? 0
        do {
            _ = try await TrainingService(db: req.db).train(account: c.account, project: c.project,
                                                            trainingType: advanced ? "Advanced" : "Regular",
                                                            budgetHours: advanced ? max(budget, 1) : 0, force: true)
        } catch let e as CVError {
            throw CVError(e.status, e.code, "Training was not started: \(e.message)")
        } catch let e as QuotaLedger.Exceeded {
            throw CVError.quotaExceeded(e)
        }
        return req.redirect(to: c.base + "#training")
    }

    struct IterationStatus: Content {
        var id: String, name: String, status: String, progress: Int, error: String?
    }

    /// Polled by the project page while something trains.
    func status(req: Request) async throws -> [IterationStatus] {
        let c = try await ImagePages.Context.load(req)
        return try await TrainingService(db: req.db).iterations(c.project).map {
            IterationStatus(id: $0.id!.uuidString.lowercased(), name: $0.name, status: $0.status, progress: $0.progress, error: $0.errorDetails)
        }
    }

    /// The training section of the project page.
    static func section(_ req: Request, _ c: ImagePages.Context, csrf: String) async throws -> [HNode] {
        let iterations = try await TrainingService(db: req.db).iterations(c.project)
        let rows: [[HNode]] = iterations.map { it in
            let id = it.id!.uuidString.lowercased()
            return [H.link(it.name, "\(c.base)/iterations/\(id)"),
                    H.el("span", [("class", "it-status"), ("data-iteration", id)], [H.text(it.status)]),
                    H.el("progress", [("max", "100"), ("value", String(it.progress)), ("data-iteration", id)]),
                    H.text(it.publishName.map { "published as \($0)" } ?? ""),
                    H.text(it.errorDetails ?? "")]
        }
        return [
            H.el("h2", [("id", "training")], [H.text("Training")]),
            H.form(action: "\(c.base)/train", csrf: csrf, id: "train-form", [
                H.el("label", [("class", "inline")], [H.void("input", [("type", "radio"), ("name", "trainingType"), ("value", "Regular"), ("checked", "checked"), ("id", "quick")]), H.text(" Quick training")]),
                H.el("label", [("class", "inline")], [H.void("input", [("type", "radio"), ("name", "trainingType"), ("value", "Advanced"), ("id", "advanced")]), H.text(" Advanced training, budget (hours) ")]),
                H.void("input", [("type", "number"), ("name", "budget"), ("value", "1"), ("min", "1"), ("max", "168"), ("id", "budget"), ("class", "small")]),
                H.button("Train", id: "train-button"),
            ]),
            H.el("p", [], [H.link("Stored predictions", "\(c.base)/predictions", id: "predictions-link")]),
            iterations.isEmpty ? H.el("p", [], [H.text("No iterations yet.")])
                : H.table(head: ["Iteration", "Status", "Progress", "Published", "Details"], rows: rows, id: "iterations"),
            H.el("script", [("src", "/js/training.js"), ("data-status", "\(c.base)/iterations.json"), ("id", "training-script")]),
        ]
    }

    func iteration(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        return try await iterationPage(req, c, try await it(req, c))
    }

    private func iterationPage(_ req: Request, _ c: ImagePages.Context, _ it: Iteration, flash: String? = nil,
                               quickTest: [(String, Float)]? = nil, quickTestImage: String? = nil,
                               quickTestDetections: [WirePrediction]? = nil) async throws -> Response {
        let csrf = req.csrfToken
        let base = "\(c.base)/iterations/\(it.id!.uuidString.lowercased())"
        var body: [HNode] = [
            H.el("p", [], [H.link("← \(c.project.name)", c.base + "#training", id: "back")]),
            H.el("p", [], [H.text("Status: "), H.el("strong", [("id", "iteration-status")], [H.text(it.status)])]
                 + (it.errorDetails.map { [H.el("span", [("class", "error"), ("id", "failure")], [H.text(" " + $0)])] } ?? [])),
        ]
        let detection = c.project.projectType == "ObjectDetection"
        if it.status == "Completed", let json = it.metricsJSON,
           let performance = try await performanceSection(req, c, json: json) {
            body += performance
            body.append(H.el("h2", [], [H.text("Publish")]))
            if let name = it.publishName {
                body.append(H.el("p", [("id", "published")], [H.text("Published as \(name) to \(it.predictionResourceID ?? "")")]))
                body.append(H.form(action: "\(base)/unpublish", csrf: csrf, id: "unpublish-form", [H.button("Unpublish", id: "unpublish")]))
            } else {
                let accounts = try await AccountService(db: req.db).list(owner: req.portalUser!)
                body.append(H.form(action: "\(base)/publish", csrf: csrf, id: "publish-form", [
                    H.field("Publish name", name: "publishName", value: detection ? "detectModel" : "classifyModel", id: "publish-name"),
                    H.el("label", [], [H.text("Prediction resource"), H.el("select", [("name", "predictionId"), ("id", "prediction-account")], accounts.map {
                        H.el("option", [("value", $0.resourceID)], [H.text("\($0.name) (\($0.tierCode))")])
                    })]),
                    H.button("Publish", id: "publish"),
                ]))
            }
            body += try await exportSection(req, c, it, base: base, csrf: csrf)
            body.append(H.el("h2", [], [H.text("Quick test")]))
            body.append(H.el("form", [("method", "post"), ("action", "\(base)/quicktest"), ("enctype", "multipart/form-data"), ("id", "quicktest-form")], [
                H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)]),
                H.void("input", [("type", "file"), ("name", "imageData"), ("accept", "image/*"), ("id", "quicktest-file")]),
                H.field("or image URL", name: "url", type: "url", id: "quicktest-url"),
                H.button("Test", id: "quicktest-button"),
            ]))
            if let quickTestImage, let quickTestDetections {
                body.append(DetectionOverlay.node(imageURL: quickTestImage, predictions: quickTestDetections, id: "quicktest-results"))
                body.append(H.el("script", [("src", "/js/detections.js")]))
            } else if let quickTest {
                body.append(H.el("div", [("id", "quicktest-results")], quickTest.map { name, p in
                    H.el("div", [("class", "usage prediction"), ("data-tag", name)], [
                        H.el("span", [], [H.text("\(name): \(String(format: "%.1f", p * 100))%")]),
                        H.fill(Double(p)),
                    ])
                }))
            }
        } else if it.status == "Training" {
            body.append(H.el("progress", [("max", "100"), ("value", String(it.progress)), ("id", "iteration-progress")]))
        }
        return .html(PortalLayout.page(title: it.name, user: req.portalUser, csrf: csrf, flash: flash, body))
    }

    /// The performance section: precision and recall at a threshold slider (exact, from the
    /// held-out scores), AP per tag and the PR curves; for detectors also an overlap slider.
    private func performanceSection(_ req: Request, _ c: ImagePages.Context, json: String) async throws -> [HNode]? {
        let tags = try await ImageService(db: req.db).projectTags(c.project)
        if let report = try? JSONDecoder().decode(DetectionReport.self, from: Data(json.utf8)) {
            return detectionSection(report, tags: tags)
        }
        guard let report = try? JSONDecoder().decode(PerformanceReport.self, from: Data(json.utf8)) else { return nil }
        do {
            let names = report.tagIDs.map { UUID(uuidString: $0).flatMap { tags[$0]?.name } ?? "?" }
            let s = report.summary(threshold: 0.5)
            // The held-out scores, so the slider recomputes precision and recall exactly.
            let scores = report.scored.map { $0.map { [$0.score, $0.positive ? 1 : 0] } }
            let scoreJSON = String(decoding: try JSONEncoder().encode(scores), as: UTF8.self)
            return [
                H.el("h2", [], [H.text("Performance")]),
                H.el("div", [("id", "performance"), ("data-scores", scoreJSON)], [
                    H.el("label", [], [H.text("Probability threshold: "), H.el("span", [("id", "threshold-value")], [H.text("50%")]),
                                       H.void("input", [("type", "range"), ("min", "0"), ("max", "100"), ("value", "50"), ("id", "threshold")])]),
                    H.el("p", [("class", "overall")], [
                        H.text("Precision "), H.el("strong", [("id", "precision")], [H.text(percent(s.precision))]),
                        H.text(" · Recall "), H.el("strong", [("id", "recall")], [H.text(percent(s.recall))]),
                        H.text(" · mAP "), H.el("strong", [("id", "map")], [H.text(percent(s.averagePrecision))]),
                    ]),
                    H.table(head: ["Tag", "Precision", "Recall", "AP"], rows: s.perTag.enumerated().map { i, t in
                        [H.text(names[i]), H.el("span", [("class", "tag-precision"), ("data-tag", String(i))], [H.text(percent(t.precision))]),
                         H.el("span", [("class", "tag-recall"), ("data-tag", String(i))], [H.text(percent(t.recall))]),
                         H.text(percent(t.averagePrecision))]
                    }, id: "per-tag"),
                ]),
                H.el("div", [("class", "curves")], report.tagIDs.indices.map { prCurve(report, tag: $0, name: names[$0]) }),
                H.el("script", [("src", "/js/threshold.js")]),
            ]
        }
    }

    private func detectionSection(_ report: DetectionReport, tags: [UUID: Tag]) -> [HNode] {
        let names = report.tagIDs.map { UUID(uuidString: $0).flatMap { tags[$0]?.name } ?? "?" }
        let s = report.summary(threshold: 0.5, overlap: 0.3)
        func slider(_ label: String, id: String, value: Int) -> HNode {
            H.el("label", [], [H.text(label), H.el("span", [("id", "\(id)-value")], [H.text("\(value)%")]),
                               H.void("input", [("type", "range"), ("min", "0"), ("max", "100"), ("value", String(value)), ("id", id)])])
        }
        return [
            H.el("h2", [], [H.text("Performance")]),
            H.el("p", [], [H.text("Measured on \(report.images.count) held-out image(s) that the model measured was not trained on.")]),
            H.el("div", [("id", "detection-performance"), ("data-heldout", DetectionOverlay.heldOutJSON(report))], [
                slider("Probability threshold: ", id: "threshold", value: 50),
                slider("Overlap threshold: ", id: "overlap", value: 30),
                H.el("p", [("class", "overall")], [
                    H.text("Precision "), H.el("strong", [("id", "precision")], [H.text(percent(s.precision))]),
                    H.text(" · Recall "), H.el("strong", [("id", "recall")], [H.text(percent(s.recall))]),
                    H.text(" · mAP "), H.el("strong", [("id", "map")], [H.text(percent(s.meanAveragePrecision))]),
                ]),
                H.table(head: ["Tag", "Precision", "Recall", "AP"], rows: s.perTag.enumerated().map { i, t in
                    [H.text(names[i]), H.el("span", [("class", "tag-precision"), ("data-tag", String(i))], [H.text(percent(t.precision))]),
                     H.el("span", [("class", "tag-recall"), ("data-tag", String(i))], [H.text(percent(t.recall))]),
                     H.el("span", [("class", "tag-ap"), ("data-tag", String(i))], [H.text(percent(t.averagePrecision))])]
                }, id: "per-tag"),
            ]),
            H.el("script", [("src", "/js/detection-performance.js")]),
        ]
    }

    private func percent(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }

    /// A tag's precision-recall curve as inline SVG (recall across, precision up).
    private func prCurve(_ r: PerformanceReport, tag: Int, name: String) -> HNode {
        let points = r.curve(tag: tag)
        let path = points.map { String(format: "%.1f,%.1f", 10 + 180 * $0.recall, 150 - 140 * $0.precision) }.joined(separator: " ")
        let svg = """
        <svg class="pr-curve" width="200" height="170" viewBox="0 0 200 170" role="img" aria-label="precision-recall curve for \(H.escape(name))">\
        <rect x="10" y="10" width="180" height="140" fill="none" stroke="#8a96a3"/>\
        <polyline fill="none" stroke="#1a73e8" stroke-width="2" points="\(path)"/>\
        <text x="100" y="166" font-size="10" text-anchor="middle">recall · \(H.escape(name))</text></svg>
        """
        return .raw(svg)
    }

    func publish(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let iteration = try await it(req, c)
        try await TrainingService(db: req.db).publish(project: c.project, iteration,
                                                      name: try req.content.get(String.self, at: "publishName"),
                                                      predictionID: try req.content.get(String.self, at: "predictionId"), overwrite: false)
        return try await iterationPage(req, c, iteration, flash: "Published.")
    }

    /// The Export menu: the targets this iteration can be exported to, and its exports with
    /// download links (signed, expiring). The list reloads itself while one is being built.
    private func exportSection(_ req: Request, _ c: ImagePages.Context, _ it: Iteration, base: String, csrf: String) async throws -> [HNode] {
        var out: [HNode] = [H.el("h2", [("id", "export")], [H.text("Export")])]
        let domain = req.application.domainCatalog.domain(it.domainID)
        let allowed = ExportTarget.allowed(domain: domain, project: c.project)
        let choices = ExportTarget.offered(allowed: allowed)
        if choices.isEmpty {
            out.append(H.el("p", [("id", "export-unavailable")], [
                H.text("The \(domain?.name ?? "unknown") domain cannot be exported. Train on a compact domain to export a model."),
            ]))
            return out
        }
        out.append(H.form(action: "\(base)/export", csrf: csrf, id: "export-form", [
            H.el("label", [], [H.text("Format "), H.el("select", [("name", "target"), ("id", "export-target")], choices.map {
                H.el("option", [("value", "\($0.platform)|\($0.flavor)")], [H.text($0.flavor.isEmpty ? $0.platform : "\($0.platform) · \($0.flavor)")])
            })]),
            H.button("Export", id: "export-button"),
        ]))
        let exports = try await ExportService(db: req.db, domains: req.application.domainCatalog).exports(it)
        if !exports.isEmpty {
            let signer = req.application.blobSigner, publicURL = req.application.settings.publicURL
            let pending = exports.contains { $0.status == "Exporting" }
            out.append(H.el("div", [("id", "exports"), ("data-pending", pending ? "true" : "false")], [
                H.table(head: ["Platform", "Flavor", "Status", ""], rows: exports.map { e in
                    [H.text(e.platform), H.text(e.flavor), H.el("span", [("class", "export-status")], [H.text(e.status)]),
                     e.status == "Done" && e.blobHash != nil
                        ? H.el("a", [("href", signer.url(hash: e.blobHash!, base: publicURL)), ("class", "export-download"),
                                     ("data-flavor", e.flavor), ("download", "")], [H.text("Download")])
                        : H.text(e.error ?? "")]
                }, id: "export-list"),
            ]))
            if pending { out.append(H.el("script", [("src", "/js/exports.js")])) }
        }
        return out
    }

    func export(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let iteration = try await it(req, c)
        let target = ((try? req.content.get(String.self, at: "target")) ?? "").split(separator: "|").map(String.init)
        do {
            _ = try await ExportService(db: req.db, domains: req.application.domainCatalog)
                .request(project: c.project, iteration: iteration, platform: target.first, flavor: target.count > 1 ? target[1] : nil)
        } catch let e as CVError {
            return try await iterationPage(req, c, iteration, flash: e.message)
        }
        return req.redirect(to: "\(c.base)/iterations/\(iteration.id!.uuidString.lowercased())#export")
    }

    func unpublish(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let iteration = try await it(req, c)
        try await TrainingService(db: req.db).unpublish(iteration)
        return try await iterationPage(req, c, iteration, flash: "Unpublished.")
    }

    func quickTest(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let iteration = try await it(req, c)
        guard let type = req.headers.contentType, type.type == "multipart", let boundary = type.parameters["boundary"] else {
            throw CVError.badRequest("BadRequestImageStream", "Choose an image or give a URL to test.")
        }
        let parts = try RequestBodyReader.parts(req.body.data ?? ByteBuffer(), boundary: boundary)
        let file = parts.first { $0.name == "imageData" && $0.body.readableBytes > 0 }
        let link = parts.first { $0.name == "url" }.map { String(buffer: $0.body).trimmingCharacters(in: .whitespaces) } ?? ""
        let data: Data
        if let file {
            data = Data(buffer: file.body)
        } else if !link.isEmpty {
            let fetcher = ImageURLFetcher(http: req.application.http.client.shared, policy: req.application.urlPolicy, logger: req.logger)
            guard case .success(let fetched) = await fetcher.fetch(link) else {
                throw CVError.badRequest("BadRequestImageUrl", "The image at that URL could not be fetched.")
            }
            data = fetched
        } else {
            throw CVError.badRequest("BadRequestImageStream", "Choose an image or give a URL to test.")
        }
        try PredictionService.validate(data)
        // A prediction like any other: the account's TPS limit and monthly count apply.
        try await RateLimitMiddleware.check(account: c.account, kind: "prediction", on: req.db)
        // Stored with the project's predictions, as Custom Vision's quick test does.
        let result = try await PredictionService(app: req.application, db: req.db).counted(account: c.account) {
            try await $0.predict(project: c.project, iteration: iteration, data: data, store: true, withTagType: true)
        }
        if c.project.projectType == "ObjectDetection" {
            // The stored copy of the image when there is one; the bytes themselves otherwise.
            var image = "data:image;base64," + data.base64EncodedString()
            if let id = UUID(uuidString: result.id), let row = try await StoredPrediction.find(id, on: req.db) {
                image = req.application.blobSigner.url(hash: row.blobHash, base: req.application.settings.publicURL)
            }
            return try await iterationPage(req, c, iteration, quickTestImage: image, quickTestDetections: result.predictions)
        }
        return try await iterationPage(req, c, iteration, quickTest: result.predictions.map { ($0.tagName, $0.probability) })
    }
}
