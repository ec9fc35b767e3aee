import Fluent
import Vapor
import VisionEngine

/// Training in the portal: the Train dialog (Quick, or Advanced with a budget), live
/// progress, and the Performance tab: the iteration list, and for the chosen iteration
/// exact threshold sliders, precision/recall/AP as figures, a per-tag table, PR curves
/// with axes, Publish/Unpublish, the Prediction URL, Export and Delete. Quick test is in
/// `PortalQuickTest.swift`.
struct TrainingPages: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("accounts", ":accountId", "projects", ":projectId")
        p.post("train", use: train)
        p.get("iterations.json", use: status)
        p.get("performance", use: performance)
        p.get("iterations", ":iterationId", use: iteration)
        p.post("iterations", ":iterationId", "publish", use: publish)
        p.post("iterations", ":iterationId", "unpublish", use: unpublish)
        p.post("iterations", ":iterationId", "export", use: export)
        p.post("iterations", ":iterationId", "delete", use: deleteIteration)
        p.on(.POST, "quicktest", body: .collect(maxSize: ByteCount(value: RequestBodyReader.prediction)), use: quickTest)
    }

    /// The project's iteration named in the path (or by `id`); 404 otherwise.
    func it(_ req: Request, _ c: ImagePages.Context, id: String? = nil) async throws -> Iteration {
        do { return try await TrainingService(db: req.db).iteration(c.project, id: id ?? req.parameters.get("iterationId") ?? "") }
        catch is CVError { throw Abort(.notFound) }
    }

    private func performanceURL(_ c: ImagePages.Context, _ it: Iteration, fragment: String = "") -> String {
        "\(c.base)/performance?iteration=\(it.id!.uuidString.lowercased())" + fragment
    }

    func train(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let advanced = (try? req.content.get(String.self, at: "trainingType")) == "Advanced"
        let budget = min(max(Int((try? req.content.get(String.self, at: "budget")) ?? "1") ?? 1, 1), 168)
        do {
            let it = try await TrainingService(db: req.db).train(account: c.account, project: c.project,
                                                                 trainingType: advanced ? "Advanced" : "Regular",
                                                                 budgetHours: advanced ? budget : 0, force: true)
            return req.redirect(to: performanceURL(c, it), flash: "\(it.name) is training (\(advanced ? "Advanced, budget \(budget) h" : "Quick")).")
        } catch let e as CVError {
            return req.redirect(to: "\(c.base)/performance", flash: nil, error: "Training was not started: \(e.message)")
        } catch let e as QuotaLedger.Exceeded {
            return req.redirect(to: "\(c.base)/performance", flash: nil, error: "Training was not started: \(CVError.quotaExceeded(e).message)")
        }
    }

    /// "12.5 images/s · about 3 min left", as training.js writes it while it polls.
    static func paceText(imagesPerSecond: Double?, secondsLeft: Int?) -> String {
        var parts: [String] = []
        if let r = imagesPerSecond {
            let shown = r >= 10 ? r.rounded() : (r * 10).rounded() / 10
            parts.append((shown == shown.rounded() ? String(Int(shown)) : String(shown)) + " images/s")
        }
        if let s = secondsLeft { parts.append(s < 90 ? "about \(max(1, s)) s left" : "about \(Int((Double(s) / 60).rounded())) min left") }
        return parts.joined(separator: " · ")
    }

    struct IterationStatus: Content {
        var id: String, name: String, status: String, progress: Int, error: String?
        /// While training: images per second through the backbone, and seconds to the expected end.
        var imagesPerSecond: Double?, secondsLeft: Int?
    }

    /// Polled by the Performance tab while something trains.
    func status(req: Request) async throws -> [IterationStatus] {
        let c = try await ImagePages.Context.load(req)
        return try await TrainingService(db: req.db).iterations(c.project).map {
            let training = $0.status == "Training"
            return IterationStatus(id: $0.id!.uuidString.lowercased(), name: $0.name, status: StatusWording.iteration($0.status),
                                   progress: $0.progress, error: $0.errorDetails,
                                   imagesPerSecond: training ? $0.imagesPerSecond : nil,
                                   secondsLeft: training ? $0.estimatedEnd.map { max(0, Int($0.timeIntervalSinceNow.rounded())) } : nil)
        }
    }

    /// An old iteration link opens the Performance tab on that iteration.
    func iteration(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        return req.redirect(to: performanceURL(c, try await it(req, c)))
    }

    func performance(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let iterations = try await TrainingService(db: req.db).iterations(c.project)
        var chosen: Iteration?
        if let raw = req.query[String.self, at: "iteration"] {
            chosen = iterations.first { $0.id!.uuidString.lowercased() == raw.lowercased() }
            if chosen == nil { throw Abort(.notFound) }
        } else {
            chosen = iterations.first { $0.status == "Completed" } ?? iterations.first
        }
        let csrf = req.csrfToken
        let catalog = req.application.domainCatalog
        let list: HNode = iterations.isEmpty
            ? H.el("p", [("id", "no-iterations")], [H.text("No iterations yet. Add at least two tags with five images each, then choose Train.")])
            : H.el("ul", [("class", "iteration-list"), ("id", "iterations")], iterations.map { it in
                let id = it.id!.uuidString.lowercased()
                let current = it.id == chosen?.id
                return H.el("li", [], [
                    H.el("a", [("href", performanceURL(c, it))] + (current ? [("aria-current", "true")] : []), [H.text(it.name)]),
                    H.el("span", [("class", "meta")], [
                        H.el("span", [("class", "it-status"), ("data-iteration", id)], [H.text(StatusWording.iteration(it.status))]),
                        H.text(" · \(StatusWording.trainingType(it.trainingType)) · \(catalog.domain(it.domainID)?.name ?? "?")"),
                        H.void("br", []),
                        H.text(PortalDates.short(it.trainedAt ?? it.createdAt ?? Date()) + (it.publishName.map { " · published as \($0)" } ?? "")),
                    ]),
                    H.el("progress", [("max", "100"), ("value", String(it.progress)), ("data-iteration", id),
                                      ("aria-label", "\(it.name) progress")] + (it.status == "Training" || it.status == "Queued" ? [] : [("class", "done")])),
                ])
            })
        var detail: [HNode] = []
        if let chosen { detail = try await iterationDetail(req, c, chosen, csrf: csrf) }
        return try await ProjectWorkspace.page(req, c, tab: .performance, [
            H.el("div", [("class", "split")], [
                H.el("aside", [("class", "sidebar"), ("aria-label", "Iterations")], [H.el("h2", [], [H.text("Iterations")]), list]),
                H.el("section", [("id", "iteration-detail"), ("aria-label", chosen?.name ?? "Iteration")], detail),
            ]),
            H.el("script", [("src", "/js/training.js"), ("data-status", "\(c.base)/iterations.json"), ("id", "training-script")]),
        ])
    }

    private func iterationDetail(_ req: Request, _ c: ImagePages.Context, _ it: Iteration, csrf: String) async throws -> [HNode] {
        let base = "\(c.base)/iterations/\(it.id!.uuidString.lowercased())"
        let detection = c.project.projectType == "ObjectDetection"
        let domain = req.application.domainCatalog.domain(it.domainID)
        var body: [HNode] = [
            H.el("h2", [("id", "iteration-name")], [H.text(it.name)]),
            H.el("p", [], [H.text("Status: "), H.el("strong", [("id", "iteration-status")], [H.text(StatusWording.iteration(it.status))]),
                           H.text(" · \(StatusWording.trainingType(it.trainingType)) training\(it.trainingType == "Advanced" ? " (budget \(it.budgetHours) h)" : "") on \(domain?.name ?? "?")"
                                  + (it.trainingSeconds.map { String(format: " · trained in %.1f s", $0) } ?? ""))]
                 + (it.errorDetails.map { [H.el("span", [("class", "error"), ("id", "failure")], [H.text(" " + $0)])] } ?? [])),
        ]
        if it.status == "Training" || it.status == "Queued" {
            let id = it.id!.uuidString.lowercased()
            body.append(H.el("progress", [("max", "100"), ("value", String(it.progress)), ("id", "iteration-progress"),
                                          ("data-iteration", id), ("aria-label", "Training progress")]))
            body.append(H.el("p", [("class", "it-pace"), ("data-iteration", id), ("aria-live", "polite")],
                             [H.text(Self.paceText(imagesPerSecond: it.imagesPerSecond,
                                                   secondsLeft: it.estimatedEnd.map { Int($0.timeIntervalSinceNow.rounded()) }))]))
        }
        var actions: [HNode] = []
        if it.status == "Completed" {
            if it.publishName != nil {
                actions.append(H.el("form", [("method", "post"), ("action", "\(base)/unpublish"), ("id", "unpublish-form"), ("class", "inline"),
                                             ("data-confirm", "Unpublish \(it.name)? Apps calling its prediction URL will get errors.")], [
                    H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)]), H.button("Unpublish", id: "unpublish", cls: "secondary"),
                ]))
                actions.append(H.el("button", [("type", "button"), ("id", "prediction-url"), ("data-open-dialog", "prediction-url-dialog")], [H.text("Prediction URL")]))
            } else {
                actions.append(H.el("button", [("type", "button"), ("id", "open-publish"), ("data-open-dialog", "publish-dialog")], [H.text("Publish")]))
            }
        }
        if it.publishName == nil {
            actions.append(H.el("form", [("method", "post"), ("action", "\(base)/delete"), ("id", "delete-iteration"), ("class", "inline"),
                                         ("data-confirm", "Delete \(it.name)? Its model and performance are removed.")], [
                H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)]), H.button("Delete iteration", cls: "danger"),
            ]))
        }
        body.append(H.el("div", [("class", "page-actions")], actions))
        if it.status == "Completed" {
            if let name = it.publishName {
                body.append(H.el("p", [("id", "published")], [H.text("Published as \(name) to \(it.predictionResourceID ?? "")")]))
                body.append(predictionURLDialog(req, c, it, name: name))
            } else {
                let accounts = try await AccountService(db: req.db).list(owner: req.portalUser!)
                body.append(H.el("dialog", [("id", "publish-dialog"), ("aria-labelledby", "publish-title")], [H.el("div", [("class", "dialog-body")], [
                    H.el("h2", [("id", "publish-title")], [H.text("Publish \(it.name)")]),
                    H.form(action: "\(base)/publish", csrf: csrf, id: "publish-form", [
                        H.field("Model name", name: "publishName", value: detection ? "detectModel" : "classifyModel", id: "publish-name",
                                extra: [("required", "required"), ("maxlength", "256")]),
                        H.el("label", [], [H.text("Prediction resource"), H.el("select", [("name", "predictionId"), ("id", "prediction-account")], accounts.map {
                            H.el("option", [("value", $0.resourceID)] + ($0.id == c.account.id ? [("selected", "selected")] : []), [H.text("\($0.name) (\($0.tierCode))")])
                        })]),
                        H.el("div", [("class", "dialog-actions")], [
                            H.el("button", [("type", "button"), ("class", "secondary"), ("data-close-dialog", "")], [H.text("Cancel")]),
                            H.button("Publish", id: "publish"),
                        ]),
                    ]),
                ])]))
            }
            if let json = it.metricsJSON, let performance = try await performanceSection(req, c, json: json) {
                body += performance
            }
            body += try await exportSection(req, c, it, base: base, csrf: csrf)
        }
        return body
    }

    /// The exact calls that reach a published iteration, with a copyable curl line.
    private func predictionURLDialog(_ req: Request, _ c: ImagePages.Context, _ it: Iteration, name: String) -> HNode {
        let detection = c.project.projectType == "ObjectDetection"
        let endpoint = req.application.settings.endpoint
        // Only unreserved characters stay as they are, so the URL holds nothing a shell
        // reads ($, quotes, parentheses) and the curl lines are safe to paste.
        var unreserved = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        unreserved.insert(charactersIn: "-._~")
        let path = "\(endpoint)customvision/v3.0/Prediction/\(c.project.id!.uuidString.lowercased())/\(detection ? "detect" : "classify")/iterations/\(name.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "")"
        let imageCurl = "curl -X POST '\(path)/image' -H \"Prediction-Key: $PREDICTION_KEY\" -H 'Content-Type: application/octet-stream' --data-binary @image.jpg"
        let urlCurl = "curl -X POST '\(path)/url' -H \"Prediction-Key: $PREDICTION_KEY\" -H 'Content-Type: application/json' -d '{\"Url\": \"https://example.com/image.jpg\"}'"
        func copyable(_ label: String, id: String, _ value: String) -> HNode {
            H.el("div", [], [
                H.el("h3", [], [H.text(label)]),
                H.el("pre", [("id", id), ("data-value", value)], [H.text(value)]),
                H.el("button", [("type", "button"), ("class", "secondary"), ("data-copy", id), ("id", "copy-\(id)")], [H.text("Copy")]),
            ])
        }
        return H.el("dialog", [("id", "prediction-url-dialog"), ("aria-labelledby", "prediction-url-title")], [H.el("div", [("class", "dialog-body")], [
            H.el("h2", [("id", "prediction-url-title")], [H.text("How to use the Prediction API")]),
            H.el("p", [], [H.text("Send the header Prediction-Key with a prediction key of the resource \(it.predictionResourceID.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "it is published to"). "
                                  + "Keys are on its resource account page; Sightline shows a key only when it is created, so set PREDICTION_KEY to the one you copied then.")]),
            copyable("If you have an image file", id: "prediction-image-url", "\(path)/image"),
            copyable("If you have an image URL", id: "prediction-url-url", "\(path)/url"),
            copyable("curl, image file", id: "prediction-curl", imageCurl),
            copyable("curl, image URL", id: "prediction-curl-url", urlCurl),
            H.el("div", [("class", "dialog-actions")], [H.el("button", [("type", "button"), ("class", "secondary"), ("data-close-dialog", "")], [H.text("Close")])]),
        ])])
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
            var recipe: [HNode] = []
            if let method = report.recipe {
                var words = "Model: \(method)."
                if let f = report.fineTune, f.epochs > 0, f.heldOutImages > 0 {
                    words += String(format: " On %d held-out images fine-tuning reached %.0f %% against the probe's %.0f %%.",
                                    f.heldOutImages, f.bestHeldOutAccuracy * 100, f.probeHeldOutAccuracy * 100)
                }
                words += " The precision and recall below were cross-validated on the linear probe, before fine-tuning."
                recipe = [H.el("p", [("id", "training-recipe")], [H.text(words)])]
            }
            return [
                H.el("h2", [], [H.text("Performance")]),
            ] + recipe + [
                H.el("div", [("id", "performance"), ("data-scores", scoreJSON)], [
                    H.el("label", [], [H.text("Probability threshold: "), H.el("span", [("id", "threshold-value")], [H.text("50%")]),
                                       H.void("input", [("type", "range"), ("min", "0"), ("max", "100"), ("value", "50"), ("id", "threshold")])]),
                    H.el("div", [("class", "figures overall")], [
                        figure("Precision", id: "precision", percent(s.precision)),
                        figure("Recall", id: "recall", percent(s.recall)),
                        figure("AP", id: "map", percent(s.averagePrecision)),
                    ]),
                    H.el("div", [("class", "table-wrap")], [H.table(head: ["Tag", "Images", "Precision", "Recall", "AP"], rows: s.perTag.enumerated().map { i, t in
                        [H.text(names[i]), H.text(String(report.scored[i].filter(\.positive).count)),
                         H.el("span", [("class", "tag-precision"), ("data-tag", String(i))], [H.text(percent(t.precision))]),
                         H.el("span", [("class", "tag-recall"), ("data-tag", String(i))], [H.text(percent(t.recall))]),
                         H.text(percent(t.averagePrecision))]
                    }, id: "per-tag")]),
                    H.el("p", [("class", "hint")], [H.text("Measured on images held out from training (\(report.folds)-fold cross-validation). A tag is predicted when its probability reaches the threshold.")]),
                    H.el("div", [("class", "curves")], report.tagIDs.indices.map { PRCurve.svg(report.curve(tag: $0).map { ($0.threshold, $0.precision, $0.recall) }, name: names[$0], threshold: 0.5) }),
                ]),
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
            H.el("p", [], [H.text("Measured on \(report.images.count == 1 ? "1 held-out image" : "\(report.images.count) held-out images") the model was not trained on.")]),
            H.el("div", [("id", "detection-performance"), ("data-heldout", DetectionOverlay.heldOutJSON(report))], [
                slider("Probability threshold: ", id: "threshold", value: 50),
                slider("Overlap threshold: ", id: "overlap", value: 30),
                H.el("div", [("class", "figures overall")], [
                    figure("Precision", id: "precision", percent(s.precision)),
                    figure("Recall", id: "recall", percent(s.recall)),
                    figure("mAP", id: "map", percent(s.meanAveragePrecision)),
                ]),
                H.el("div", [("class", "table-wrap")], [H.table(head: ["Tag", "Boxes held out", "Precision", "Recall", "AP"], rows: s.perTag.enumerated().map { i, t in
                    [H.text(names[i]), H.text(String(t.truths)),
                     H.el("span", [("class", "tag-precision"), ("data-tag", String(i))], [H.text(percent(t.precision))]),
                     H.el("span", [("class", "tag-recall"), ("data-tag", String(i))], [H.text(percent(t.recall))]),
                     H.el("span", [("class", "tag-ap"), ("data-tag", String(i))], [H.text(percent(t.averagePrecision))])]
                }, id: "per-tag")]),
            ]),
            H.el("script", [("src", "/js/detection-performance.js")]),
        ]
    }

    private func percent(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }

    private func figure(_ label: String, id: String, _ value: String) -> HNode {
        H.el("div", [("class", "figure")], [H.el("span", [("class", "label")], [H.text(label)]), H.el("strong", [("id", id)], [H.text(value)])])
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
        let exports = try await ExportService(db: req.db, domains: req.application.domainCatalog, settings: req.application.settings).exports(it)
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

    func publish(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let iteration = try await it(req, c)
        let name = (try? req.content.get(String.self, at: "publishName")) ?? ""
        do {
            try await TrainingService(db: req.db).publish(project: c.project, iteration, name: name,
                                                          predictionID: (try? req.content.get(String.self, at: "predictionId")) ?? "", overwrite: false)
        } catch let e as CVError {
            return req.redirect(to: performanceURL(c, iteration), flash: nil, error: "Not published: \(e.message)")
        }
        return req.redirect(to: performanceURL(c, iteration), flash: "Published as \(name). Prediction URL shows how to call it.")
    }

    func unpublish(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let iteration = try await it(req, c)
        try await TrainingService(db: req.db).unpublish(iteration)
        return req.redirect(to: performanceURL(c, iteration), flash: "\(iteration.name) unpublished.")
    }

    func deleteIteration(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let iteration = try await it(req, c)
        do {
            let freed = try await TrainingService(db: req.db).delete(account: c.account, project: c.project, iteration)
            BlobSweeper.freeLater(freed, app: req.application)
        } catch let e as CVError {
            return req.redirect(to: performanceURL(c, iteration), flash: nil, error: "Not deleted: \(e.message)")
        }
        return req.redirect(to: "\(c.base)/performance", flash: "\(iteration.name) deleted.")
    }

    func export(req: Request) async throws -> Response {
        let c = try await ImagePages.Context.load(req)
        let iteration = try await it(req, c)
        let target = ((try? req.content.get(String.self, at: "target")) ?? "").split(separator: "|").map(String.init)
        do {
            _ = try await ExportService(db: req.db, domains: req.application.domainCatalog, settings: req.application.settings)
                .request(project: c.project, iteration: iteration, platform: target.first, flavor: target.count > 1 ? target[1] : nil)
        } catch let e as CVError {
            return req.redirect(to: performanceURL(c, iteration, fragment: "#export"), flash: nil, error: "Not exported: \(e.message)")
        }
        return req.redirect(to: performanceURL(c, iteration, fragment: "#export"), flash: "Export started; the download appears below when it is ready.")
    }
}
