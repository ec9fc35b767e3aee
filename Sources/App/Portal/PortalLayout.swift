import Plot
import Vapor

/// The page frame every portal page shares: the logo, the navigation with who is signed
/// in, the page heading (or a page's own header), messages in place, one stylesheet and
/// the script that gives every page its confirmations, dialogs and copy buttons.
enum PortalLayout {
    /// A page for a request: its user and form token, and the message a redirect left.
    static func page(_ req: Request, title: String, flash: String? = nil, error: String? = nil,
                     refreshSeconds: Int? = nil, header: HNode? = nil, wide: Bool = false, _ body: [HNode]) -> String {
        let left = req.takeFlash()
        return page(title: title, user: req.portalUser, csrf: req.csrfToken, flash: flash ?? left.flash,
                    error: error ?? left.error, refreshSeconds: refreshSeconds, header: header, wide: wide,
                    path: req.url.path, body)
    }

    static func page(title: String, user: User?, csrf: String, flash: String? = nil, error: String? = nil,
                     refreshSeconds: Int? = nil, header: HNode? = nil, wide: Bool = false, path: String = "",
                     _ body: [HNode]) -> String {
        // Projects live under their account's path but belong to the Projects section.
        let inProject = path.hasPrefix("/accounts/") && path.contains("/projects/")
        func item(_ label: String, _ href: String, id: String, section: String) -> HNode {
            let here = section == "/projects" ? (path.hasPrefix(section) || inProject) : (path.hasPrefix(section) && !inProject)
            return H.el("a", [("href", href), ("id", id)] + (here ? [("aria-current", "page"), ("class", "here")] : []), [H.text(label)])
        }
        var links: [HNode] = []
        var account: [HNode] = []
        if let user {
            links.append(item("Projects", "/projects", id: "nav-projects", section: "/projects"))
            links.append(item("Resource accounts", "/accounts", id: "nav-accounts", section: "/accounts"))
            links.append(item("Import from Custom Vision", "/import", id: "nav-import", section: "/import"))
            if user.isAdmin { links.append(item("Admin", "/admin", id: "nav-admin", section: "/admin")) }
            account = [H.el("span", [("class", "who"), ("id", "who")], [H.text(user.email)]),
                       H.form(action: "/signout", csrf: csrf, id: "signout-form", [H.button("Sign out", id: "signout", cls: "quiet")])]
        } else {
            links.append(H.link("Sign in", "/signin"))
            links.append(H.link("Sign up", "/signup"))
        }
        let logo = H.el("a", [("href", user == nil ? "/signin" : "/projects"), ("id", "home"), ("class", "logo")], [
            .raw(Logo.svg(size: 26)), H.el("span", [], [H.text("Sightline")]),
        ])
        var main: [HNode] = [header ?? H.el("h1", [], [H.text(title)])]
        if let flash { main.append(H.el("p", [("class", "flash"), ("id", "flash"), ("role", "status")], [H.text(flash)])) }
        if let error { main.append(H.el("p", [("class", "error"), ("id", "error"), ("role", "alert")], [H.text(error)])) }
        main += body
        let html = HTML(
            .lang(.english),
            .head(
                .meta(.charset(.utf8)),
                // Plot's `.title` also writes `og:`/`twitter:` meta tags with the title unescaped
                // in an attribute; a plain element with escaped text is all a portal page needs.
                .element(named: "title", text: "\(title) · Sightline"),
                .meta(.name("viewport"), .content("width=device-width, initial-scale=1")),
                .unwrap(refreshSeconds) { .meta(.attribute(named: "http-equiv", value: "refresh"), .content("\($0)")) },
                .link(.rel(.icon), .href("/favicon.svg"), .type("image/svg+xml")),
                .stylesheet("/css/sightline.css"),
                .script(.src("/js/portal.js"), .attribute(named: "defer"))
            ),
            .body(
                .element(named: "header", nodes: [
                    .class("topbar"),
                    logo,
                    H.el("nav", [("aria-label", "Main")], links),
                    H.el("div", [("class", "account-menu")], account),
                ]),
                .element(named: "main", nodes: [.class(wide ? "wide" : "narrow")] + main)
            )
        )
        return html.render()
    }

    /// An error as a page that still shows who is signed in, with a way back.
    static func errorPage(_ req: Request, status: HTTPResponseStatus, message: String) -> String {
        var back: [HNode] = []
        if let ref = req.headers.first(name: .referer), let url = URI(string: ref).path.nilIfEmpty,
           PortalFlash.isLocalPath(url), url != req.url.path {
            back.append(H.link("Back to the previous page", url, id: "error-back"))
            back.append(H.text(" · "))
        }
        back.append(H.link(req.portalUser == nil ? "Sign in" : "Your projects", req.portalUser == nil ? "/signin" : "/projects"))
        return page(title: StatusWording.title(status), user: req.portalUser, csrf: req.portalUser == nil ? "" : req.csrfToken,
                    path: req.url.path, [
            H.el("p", [("id", "error"), ("class", "error"), ("role", "alert")], [H.text(message)]),
            H.el("p", [], back),
        ])
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

extension Response {
    static func html(_ s: String, status: HTTPResponseStatus = .ok) -> Response {
        let r = Response(status: status, body: .init(string: s))
        r.headers.replaceOrAdd(name: .contentType, value: "text/html; charset=utf-8")
        // Pages carry the form token and, once, new keys: never kept for Back or by proxies.
        r.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return r
    }
}
