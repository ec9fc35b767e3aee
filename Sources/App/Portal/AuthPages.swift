import Vapor

/// Sign-up, sign-in and sign-out.
struct AuthPages: RouteCollection {
    struct Credentials: Content {
        var email: String
        var password: String
    }

    func boot(routes: RoutesBuilder) throws {
        routes.get { req -> Response in
            req.redirect(to: req.portalUser == nil ? "/signin" : "/projects")
        }
        routes.get("signin", use: signInPage)
        routes.post("signin", use: signIn)
        routes.get("signup", use: signUpPage)
        routes.post("signup", use: signUp)
        routes.post("signout", use: signOut)
    }

    private func form(_ req: Request, title: String, action: String, email: String = "", error: String? = nil,
                      status: HTTPResponseStatus = .ok) -> Response {
        let next = req.returnPath
        let carry = next.map { "?next=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") } ?? ""
        let other: HNode = action == "/signin"
            ? H.el("p", [], [H.text("New here? "), H.link("Create a user", "/signup" + carry, id: "to-signup")])
            : H.el("p", [], [H.text("Have a user? "), H.link("Sign in", "/signin" + carry, id: "to-signin")])
        var fields: [HNode] = [
            H.field("Email", name: "email", type: "email", value: email, extra: [("required", "required"), ("autocomplete", "email")]),
            H.field("Password", name: "password", type: "password",
                    extra: [("required", "required"), ("autocomplete", action == "/signin" ? "current-password" : "new-password")]),
        ]
        if let next { fields.append(H.void("input", [("type", "hidden"), ("name", "next"), ("value", next)])) }
        let intro: [HNode] = next == nil ? [] : [H.el("p", [("class", "notice"), ("id", "signin-needed")],
                                                      [H.text("Sign in to continue to the page you asked for.")])]
        return .html(PortalLayout.page(title: title, user: nil, csrf: req.csrfToken, error: error, path: action, intro + [
            H.el("div", [("class", "panel auth")], [
                H.form(action: action, csrf: req.csrfToken, id: "auth-form", fields + [H.button(title, id: "submit")]),
                other,
            ]),
        ]), status: status)
    }

    func signInPage(req: Request) async throws -> Response {
        form(req, title: "Sign in", action: "/signin")
    }

    func signUpPage(req: Request) async throws -> Response {
        form(req, title: "Sign up", action: "/signup")
    }

    private func users(_ req: Request) -> UserService {
        UserService(db: req.db, threadPool: req.application.threadPool)
    }

    func signIn(req: Request) async throws -> Response {
        let c = try req.content.decode(Credentials.self)
        do {
            let user = try await users(req).signIn(email: c.email, password: c.password, client: req.clientAddress)
            let next = req.returnPath
            startSession(req, user)
            return req.redirect(to: next ?? "/projects")
        } catch let e as CVError {
            return form(req, title: "Sign in", action: "/signin", email: c.email, error: e.message, status: e.status)
        }
    }

    func signUp(req: Request) async throws -> Response {
        let c = try req.content.decode(Credentials.self)
        do {
            let user = try await users(req).signUp(email: c.email, password: c.password, client: req.clientAddress)
            let next = req.returnPath
            startSession(req, user)
            // A new user's first step is a resource account, which holds projects and keys.
            return req.redirect(to: next ?? "/accounts", flash: "Welcome. Create a resource account to get keys and start projects.")
        } catch let e as CVError {
            return form(req, title: "Sign up", action: "/signup", email: c.email, error: e.message, status: e.status)
        }
    }

    func signOut(req: Request) async throws -> Response {
        req.session.destroy()
        return req.redirect(to: "/signin")
    }

    /// A fresh session id on sign-in, so a planted cookie cannot be ridden.
    private func startSession(_ req: Request, _ user: User) {
        req.session.id = nil  // the middleware then stores the data under a new id
        let now = String(Int(Date().timeIntervalSince1970))
        req.session.data = SessionData(initialData: ["userID": user.id!.uuidString, "csrf": AccountKey.generateSecret(),
                                                     SessionClock.created: now, SessionClock.seen: now])
        req.portalUser = user
    }
}
