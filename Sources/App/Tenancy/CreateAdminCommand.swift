import Fluent
import Vapor

/// `sightline create-admin --email EMAIL`: password from SIGHTLINE_ADMIN_PASSWORD or
/// standard input; prints the admin API token as the last line.
struct CreateAdminCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "email", help: "The admin's email address")
        var email: String?
    }

    var help: String { "Creates an admin (or promotes a user) and prints an admin API token." }

    func run(using context: CommandContext, signature: Signature) async throws {
        guard let email = signature.email else {
            context.console.error("Usage: sightline create-admin --email EMAIL")
            throw ConfigError(message: "missing --email")
        }
        let app = context.application
        try await app.autoMigrate()
        var password = ProcessInfo.processInfo.environment["SIGHTLINE_ADMIN_PASSWORD"]
        if password == nil || password!.isEmpty {
            context.console.output("Password (from standard input): ", newLine: false)
            password = readLine(strippingNewline: true)
        }
        guard let password, password.count >= 8 else {
            context.console.error("The password needs at least 8 characters.")
            throw ConfigError(message: "password too short")
        }
        let token = try await UserService(db: app.db, threadPool: app.threadPool).createAdmin(email: email, password: password)
        context.console.output("Admin \(UserService.normalise(email: email)) is ready. Admin API token:")
        context.console.output("\(token)")
    }
}
