import Fluent
import Vapor

/// The frame of every project page, as customvision.ai has it: the project's name, the
/// actions Train, Quick test and Settings always in view, and the tabs Training images ·
/// Performance · Predictions. The Train and Quick test dialogs live here.
enum ProjectWorkspace {
    enum Tab: String { case images, performance, predictions, settings }

    static func base(_ a: Account, _ p: Project) -> String {
        "/accounts/\(a.id!.uuidString.lowercased())/projects/\(p.id!.uuidString.lowercased())"
    }

    static func page(_ req: Request, _ c: ImagePages.Context, tab: Tab, flash: String? = nil, error: String? = nil,
                     status: HTTPResponseStatus = .ok, refreshSeconds: Int? = nil, _ body: [HNode]) async throws -> Response {
        let iterations = try await TrainingService(db: req.db).iterations(c.project)
        let header = try await Self.header(req, c, tab: tab, iterations: iterations)
        let titles: [Tab: String] = [.images: "Training images", .performance: "Performance", .predictions: "Predictions", .settings: "Settings"]
        return .html(PortalLayout.page(req, title: "\(titles[tab] ?? "") · \(c.project.name)", flash: flash, error: error,
                                       refreshSeconds: refreshSeconds, header: header, wide: true, body), status: status)
    }

    private static func header(_ req: Request, _ c: ImagePages.Context, tab: Tab, iterations: [Iteration]) async throws -> HNode {
        let domain = req.application.domainCatalog.domain(c.project.domainID)
        func tabLink(_ label: String, _ t: Tab, _ href: String) -> HNode {
            H.el("a", [("href", href), ("id", "tab-\(t.rawValue)")] + (t == tab ? [("aria-current", "page")] : []), [H.text(label)])
        }
        let completed = iterations.filter { $0.status == "Completed" }
        var actions: [HNode] = [
            H.el("button", [("type", "button"), ("id", "train"), ("data-open-dialog", "train-dialog")], [H.text("Train")]),
        ]
        if completed.isEmpty {
            actions.append(H.el("button", [("type", "button"), ("class", "secondary"), ("id", "quick-test"), ("disabled", "disabled"),
                                           ("title", "Train an iteration first")], [H.text("Quick test")]))
        } else {
            actions.append(H.el("button", [("type", "button"), ("class", "secondary"), ("id", "quick-test"), ("data-open-dialog", "quicktest-dialog")],
                                [H.text("Quick test")]))
        }
        actions.append(H.el("a", [("href", "\(c.base)/settings"), ("class", "button secondary"), ("id", "settings")]
                            + (tab == .settings ? [("aria-current", "page")] : []), [H.text("Settings")]))
        return H.el("div", [("class", "workspace")], [
            H.el("div", [("class", "workspace-head")], [
                H.el("div", [], [
                    H.el("h1", [("id", "project-title")], [H.text(c.project.name)]),
                    H.el("p", [("class", "sub")], [
                        H.text("\(ProjectsHome.typeLabel(c.project)) · \(domain?.name ?? "Unknown domain") · "),
                        H.link(c.account.name, "/accounts/\(c.account.id!.uuidString.lowercased())", id: "project-account-link"),
                        H.text(" · id "), H.el("code", [("id", "project-id")], [H.text(c.project.id!.uuidString.lowercased())]),
                    ]),
                ]),
                H.el("div", [("class", "workspace-actions")], actions),
            ]),
            H.el("nav", [("class", "tabs"), ("aria-label", "Project")], [
                tabLink("Training images", .images, c.base),
                tabLink("Performance", .performance, "\(c.base)/performance"),
                tabLink("Predictions", .predictions, "\(c.base)/predictions"),
            ]),
            trainDialog(req, c),
            completed.isEmpty ? H.text("") : quickTestDialog(req, c, completed: completed),
        ])
    }

    private static func trainDialog(_ req: Request, _ c: ImagePages.Context) -> HNode {
        H.el("dialog", [("id", "train-dialog"), ("aria-labelledby", "train-title")], [
            H.el("div", [("class", "dialog-body")], [
                H.el("h2", [("id", "train-title")], [H.text("Choose a training type")]),
                H.form(action: "\(c.base)/train", csrf: req.csrfToken, id: "train-form", [
                    H.el("fieldset", [], [
                        H.el("legend", [], [H.text("Training type")]),
                        H.el("label", [("class", "inline")], [
                            H.void("input", [("type", "radio"), ("name", "trainingType"), ("value", "Regular"), ("checked", "checked"), ("id", "quick")]),
                            H.text("Quick training"),
                        ]),
                        H.el("p", [("class", "hint")], [H.text("Seconds on a CPU: a new head on the backbone's features. Good for most projects.")]),
                        H.el("label", [("class", "inline")], [
                            H.void("input", [("type", "radio"), ("name", "trainingType"), ("value", "Advanced"), ("id", "advanced")]),
                            H.text("Advanced training"),
                        ]),
                        H.el("p", [("class", "hint")], [H.text("Also tunes the head on held-out folds and trains on zoomed crops, so it takes longer.")]),
                    ]),
                    H.el("label", [], [H.text("Training budget (hours, 1 to 168)"),
                        H.void("input", [("type", "number"), ("name", "budget"), ("value", "1"), ("min", "1"), ("max", "168"), ("id", "budget"), ("class", "small")])]),
                    H.el("div", [("class", "dialog-actions")], [
                        H.el("button", [("type", "button"), ("class", "secondary"), ("data-close-dialog", "")], [H.text("Cancel")]),
                        H.button("Train", id: "train-button"),
                    ]),
                ]),
            ]),
        ])
    }

    /// Quick test: an image file or URL against a trained iteration; the results appear in
    /// the dialog (`/js/quicktest.js` posts the form and shows what comes back).
    private static func quickTestDialog(_ req: Request, _ c: ImagePages.Context, completed: [Iteration]) -> HNode {
        H.el("dialog", [("id", "quicktest-dialog"), ("aria-labelledby", "quicktest-title")], [
            H.el("div", [("class", "dialog-body")], [
                H.el("h2", [("id", "quicktest-title")], [H.text("Quick test")]),
                H.el("form", [("method", "post"), ("action", "\(c.base)/quicktest"), ("enctype", "multipart/form-data"), ("id", "quicktest-form")], [
                    H.void("input", [("type", "hidden"), ("name", "_csrf"), ("value", req.csrfToken)]),
                    H.el("label", [], [H.text("Image file"),
                                       H.void("input", [("type", "file"), ("name", "imageData"), ("accept", "image/*"), ("id", "quicktest-file")])]),
                    H.field("or image URL", name: "url", type: "url", id: "quicktest-url"),
                    H.el("label", [], [H.text("Iteration"), H.el("select", [("name", "iterationId"), ("id", "quicktest-iteration")], completed.map {
                        H.el("option", [("value", $0.id!.uuidString.lowercased())], [H.text($0.name + ($0.publishName.map { " (published as \($0))" } ?? ""))])
                    })]),
                    H.el("div", [("class", "dialog-actions")], [
                        H.el("button", [("type", "button"), ("class", "secondary"), ("data-close-dialog", "")], [H.text("Close")]),
                        H.button("Test", id: "quicktest-button"),
                    ]),
                ]),
                H.el("div", [("id", "quicktest-output"), ("aria-live", "polite")]),
            ]),
            H.el("script", [("src", "/js/quicktest.js")]),
            H.el("script", [("src", "/js/detections.js")]),
        ])
    }
}
