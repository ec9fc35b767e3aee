import Plot
import Vapor

/// The page frame every portal page shares.
enum PortalLayout {
    static func page(title: String, user: User?, csrf: String, flash: String? = nil, error: String? = nil,
                     refreshSeconds: Int? = nil, _ body: [HNode]) -> String {
        var nav: [HNode] = [H.link("Sightline", "/", id: "home")]
        if let user {
            nav.append(H.link("Resource accounts", "/accounts", id: "nav-accounts"))
            nav.append(H.link("Import from Custom Vision", "/import", id: "nav-import"))
            if user.isAdmin {
                nav.append(H.link("Admin", "/admin", id: "nav-admin"))
            }
            nav.append(H.el("span", [("class", "who")], [H.text(user.email)]))
            nav.append(H.form(action: "/signout", csrf: csrf, id: "signout-form", [H.button("Sign out", id: "signout")]))
        } else {
            nav.append(H.link("Sign in", "/signin"))
            nav.append(H.link("Sign up", "/signup"))
        }
        var main: [HNode] = [H.el("h1", [], [H.text(title)])]
        if let flash { main.append(H.el("p", [("class", "flash"), ("id", "flash")], [H.text(flash)])) }
        if let error { main.append(H.el("p", [("class", "error"), ("id", "error")], [H.text(error)])) }
        main += body
        let html = HTML(
            .head(
                .meta(.charset(.utf8)),
                // Plot's `.title` also writes `og:`/`twitter:` meta tags with the title unescaped
                // in an attribute; a plain element with escaped text is all a portal page needs.
                .element(named: "title", text: "\(title) · Sightline"),
                .meta(.name("viewport"), .content("width=device-width, initial-scale=1")),
                .unwrap(refreshSeconds) { .meta(.attribute(named: "http-equiv", value: "refresh"), .content("\($0)")) },
                .stylesheet("/css/sightline.css")
            ),
            .body(
                .element(named: "nav", nodes: nav),
                .element(named: "main", nodes: main)
            )
        )
        return html.render()
    }

    static func errorPage(status: HTTPResponseStatus, message: String) -> String {
        page(title: "\(status.code) \(status.reasonPhrase)", user: nil, csrf: "", [
            H.el("p", [("id", "error")], [H.text(message)]),
            H.link("Back to Sightline", "/"),
        ])
    }
}

extension Response {
    static func html(_ s: String, status: HTTPResponseStatus = .ok) -> Response {
        let r = Response(status: status, body: .init(string: s))
        r.headers.replaceOrAdd(name: .contentType, value: "text/html; charset=utf-8")
        return r
    }
}
