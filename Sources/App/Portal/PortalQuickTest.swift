import Fluent
import Vapor
import VisionEngine

/// The portal's Quick test dialog: an uploaded file or a URL, predicted like any prediction
/// (the account's rate and monthly count apply) and stored with the project's predictions.
extension TrainingPages {
    struct QuickTestResult: Content { var html: String }

    /// Quick test from the dialog: the results as an HTML fragment the dialog shows.
    func quickTest(req: Request) async throws -> QuickTestResult {
        let c = try await ImagePages.Context.load(req)
        guard let boundary = try MultipartBoundary.of(req.headers.contentType) else {
            throw CVError.badRequest("BadRequestImageStream", "Choose an image or give a URL to test.")
        }
        let parts = try RequestBodyReader.parts(req.body.data ?? ByteBuffer(), boundary: boundary)
        let file = parts.first { $0.name == "imageData" && $0.body.readableBytes > 0 }
        let link = parts.first { $0.name == "url" }.map { String(buffer: $0.body).trimmingCharacters(in: .whitespaces) } ?? ""
        let data: Data
        if let file {
            data = Data(buffer: file.body)
        } else if !link.isEmpty {
            let fetcher = ImageURLFetcher(http: req.application.pinnedHTTP, policy: req.application.urlPolicy, logger: req.logger)
            guard case .success(let fetched) = await fetcher.fetch(link) else {
                throw CVError.badRequest("BadRequestImageUrl", "The image at that URL could not be fetched.")
            }
            data = fetched
        } else {
            throw CVError.badRequest("BadRequestImageStream", "Choose an image or give a URL to test.")
        }
        let iterationID = parts.first { $0.name == "iterationId" }.map { String(buffer: $0.body) } ?? ""
        let iteration = try await it(req, c, id: iterationID)
        try PredictionService.validate(data)
        // A prediction like any other: the account's TPS limit and monthly count apply.
        try await RateLimitMiddleware.check(account: c.account, kind: "prediction", on: req.db)
        // Stored with the project's predictions, as Custom Vision's quick test does.
        let result = try await PredictionService(app: req.application, db: req.db).counted(account: c.account) {
            try await $0.predict(project: c.project, iteration: iteration, data: data, store: true, withTagType: true)
        }
        // The stored copy of the image when there is one; the bytes themselves otherwise.
        var image = "data:image;base64," + data.base64EncodedString()
        if let id = UUID(uuidString: result.id), let row = try await StoredPrediction.find(id, on: req.db) {
            image = req.application.blobSigner.url(hash: row.blobHash, base: req.application.settings.publicURL)
        }
        let node: HNode
        if c.project.projectType == "ObjectDetection" {
            node = DetectionOverlay.node(imageURL: image, predictions: result.predictions, id: "quicktest-results")
        } else {
            node = H.el("div", [("id", "quicktest-results")], [
                H.void("img", [("src", image), ("alt", "The tested image"), ("class", "quicktest-image")]),
                H.el("h3", [], [H.text("Predictions of \(iteration.name)")]),
            ] + result.predictions.map { p in
                H.el("div", [("class", "usage prediction"), ("data-tag", p.tagName)], [
                    H.el("span", [], [H.text("\(p.tagName): \(String(format: "%.1f", p.probability * 100))%")]),
                    H.fill(Double(p.probability)),
                ])
            })
        }
        return QuickTestResult(html: H.render(node))
    }
}
