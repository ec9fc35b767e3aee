import App
import VisionEngine
import Logging
import Vapor

// `sightline serve | migrate | create-admin`. Migrations run automatically on serve.
var env = try Environment.detect()
// Logs go to standard error, so standard output carries only what commands print
// (create-admin's token is its last line).
try LoggingSystem.bootstrap(from: &env) { level in
    { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
let app = try await Application.make(env)
do {
    try await configure(app)
    if CommandLine.arguments.dropFirst().first.map({ $0 == "serve" || $0.hasPrefix("-") }) ?? true {
        // The engine's weights must be there before anything is served.
        _ = try BackboneWeights.verified(.lite0, directory: app.settings.weightsDir)
        try await app.autoMigrate()
    }
    try await app.execute()
} catch {
    app.logger.critical("\(error is BackboneWeights.Unavailable ? "\(error)" : String(reflecting: error))")
    try? await app.asyncShutdown()
    exit(1)
}
try await app.asyncShutdown()
