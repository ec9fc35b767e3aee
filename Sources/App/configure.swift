import AsyncHTTPClient
import Fluent
import FluentPostgresDriver
import FluentSQLiteDriver
import Migrations
import SQLKit
import Vapor

/// Wires the application: database, migrations, middleware, routes.
public func configure(_ app: Application) async throws {
    let settings = app.settings
    app.settings = settings
    MetricsEndpoint.bootstrapOnce()

    let tiers = try loadTiers(from: settings.configDir + "/tiers.json")
    app.domainCatalog = try DomainCatalog.load(from: settings.configDir + "/domains.json")
    app.tierVersions = try TierVersions.load(from: settings.configDir + "/tier-versions.json")

    if let url = settings.databaseURL {
        try app.databases.use(.postgres(url: url, maxConnectionsPerEventLoop: settings.databasePoolSize), as: .psql)
    } else {
        try FileManager.default.createDirectory(atPath: settings.dataDir, withIntermediateDirectories: true)
        app.databases.use(.sqlite(.file(settings.dataDir + "/sightline.sqlite")), as: .sqlite)
        // Write-ahead logging: one sync per commit instead of the rollback journal's several,
        // and readers no longer wait for a writer (every prediction commits its quota use).
        // The mode is stored in the database file, so setting it once covers every connection.
        _ = try await (app.db as! SQLDatabase).raw("PRAGMA journal_mode=WAL").all()
    }
    let migrations = sightlineMigrations(tiers: tiers)
    app.migrations.add(migrations)

    // JSON: ISO-8601 dates with milliseconds and Z, as the SDK's date regex expects.
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    encoder.dateEncodingStrategy = .custom { date, enc in
        var c = enc.singleValueContainer()
        try c.encode(wireDate(date))
    }
    ContentConfiguration.global.use(encoder: encoder, for: .json)
    ContentConfiguration.global.use(decoder: FormDataContentDecoder(), for: .formData)

    if let url = settings.blobStoreURL {
        guard settings.databaseURL != nil else { throw S3Location.Invalid(description: "BLOB_STORE_URL needs DATABASE_URL: the nodes sharing an object store share one PostgreSQL") }
        let (location, signer) = try S3Location.parse(url: url, environment: settings.awsEnvironment)
        let client = S3BlobStore.makeClient(eventLoopGroup: app.eventLoopGroup)
        app.lifecycle.use(HTTPClientShutdown(client: client))
        app.blobStore = S3BlobStore(location: location, signer: signer, client: client, gate: BlobWriteGate(db: app.db))
    } else {
        app.blobStore = FileBlobStore(dataDir: settings.dataDir, threads: app.threadPool)
    }
    app.blobSigner = try BlobSigner.load(settings: settings)
    app.urlPolicy = URLPolicy(enabled: settings.imageURLFetch, allowLoopback: settings.imageURLAllowLoopback)
    // Image URLs are fetched without following redirects: a redirect could lead past the URL policy.
    app.http.client.configuration.redirectConfiguration = .disallow
    app.http.client.configuration.timeout = .init(connect: .seconds(10), read: .seconds(20))

    app.routes.caseInsensitive = true
    app.routes.defaultMaxBodySize = "2mb"

    app.sessions.use(.fluent)
    app.sessions.configuration.cookieName = "sightline-session"
    app.sessions.configuration.cookieFactory = { id in
        HTTPCookies.Value(string: id.string, expires: Date().addingTimeInterval(settings.sessionMaxSeconds), maxAge: nil, domain: nil,
                          path: "/", isSecure: settings.isSecure, isHTTPOnly: true, sameSite: .lax)
    }

    app.middleware = .init()
    app.middleware.use(RequestIDMiddleware())
    app.middleware.use(SecurityHeadersMiddleware())
    app.middleware.use(AccessLogMiddleware())
    app.middleware.use(ErrorResponder())
    app.middleware.use(RequestShapeGuard())
    app.middleware.use(MethodNotAllowed(routes: app.routes))
    app.middleware.use(PublicFiles(publicDirectory: app.directory.publicDirectory))
    app.middleware.use(PortalNotFoundPage())

    try app.register(collection: HealthController(expectedMigrations: migrations.count))
    try app.register(collection: TrainingController())
    try app.register(collection: ImagesController())
    try app.register(collection: ArtifactsController())
    try app.register(collection: SuggestionsController())
    try app.register(collection: IterationsController())
    try app.register(collection: ExportsController())
    try app.register(collection: StoredPredictionsController())
    try app.register(collection: BlobController())
    try app.register(collection: PredictionController())
    try app.register(collection: PredictionV2Controller())
    try app.register(collection: AdminAPIController())
    let portal = app.grouped(app.sessions.middleware, PortalSession())
    try portal.register(collection: AuthPages())
    let signedIn = portal.grouped(RequireUser())
    try signedIn.register(collection: ProjectsHome())
    try signedIn.register(collection: AccountPages())
    try signedIn.register(collection: ProjectPages())
    try signedIn.register(collection: ProjectSettingsPages())
    try signedIn.register(collection: ImagePages())
    try signedIn.register(collection: TrainingPages())
    try signedIn.register(collection: PredictionPages())
    try signedIn.register(collection: AdminPages())
    app.customVisionImports = CustomVisionImportRuns(db: app.db, signingKey: app.blobSigner.key)
    app.lifecycle.use(app.customVisionImports)
    try signedIn.register(collection: CustomVisionImportPages())
    try signedIn.register(collection: SmartLabeler())

    app.asyncCommands.use(CreateAdminCommand(), as: "create-admin")
    app.asyncCommands.use(SweepBlobsCommand(), as: "sweep-blobs")
    app.asyncCommands.use(RevokeAdminTokenCommand(), as: "revoke-admin-token")
    app.asyncCommands.use(ImportCustomVisionCommand(), as: "import-customvision")
    app.lifecycle.use(HousekeepingSchedule())
    app.blobReclaimer = BlobReclaimer(sweeper: app.blobSweeper, grace: settings.blobFreeGraceSeconds, logger: app.logger)
    app.lifecycle.use(app.blobReclaimer)
    app.decodePool = DecodePool(threads: settings.decodeThreads, perAccount: settings.decodesPerAccount, nice: 10)
    app.predictionDecodePool = DecodePool(threads: settings.decodeThreads, perAccount: settings.decodesPerAccount, nice: 0)
    app.lifecycle.use(DecodePoolLifecycle())
    app.engine = Engine(weightsDir: settings.weightsDir, workers: settings.engineWorkers, threadsPerJob: settings.engineThreads)
    app.predictor = Predictor()
    app.suggestionFlights = SuggestionFlights()
    app.lifecycle.use(EngineLifecycle())
    app.lifecycle.use(EnginePool(workers: settings.engineWorkers, heartbeatSeconds: settings.engineHeartbeatSeconds))
}

func loadTiers(from path: String) throws -> [TierSeed] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ConfigError(message: "cannot read tier catalogue \(path)")
    }
    return try JSONDecoder().decode([TierSeed].self, from: data)
}
