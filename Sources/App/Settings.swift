import Foundation
import Vapor

/// Start-up configuration, read from the environment (see `config/sightline.env.example`).
public struct Settings: Sendable {
    public var dataDir: String
    public var databaseURL: String?
    public var publicURL: String
    public var configDir: String
    public var blobSigningKey: String
    public var engineWorkers: Int
    /// OpenMP threads of one engine job's forward pass (`ENGINE_THREADS`).
    public var engineThreads: Int = 1
    /// How often a running job proves its process is alive; 6 missed beats re-queue it.
    public var engineHeartbeatSeconds: Double
    /// Where scripts/weights-ensure.sh puts the pretrained backbones.
    public var weightsDir: String
    /// Whether `create_images_from_urls` may fetch from the network at all.
    public var imageURLFetch: Bool
    /// Test-only: lets URL fetches reach 127.0.0.0/8.
    public var imageURLAllowLoopback: Bool
    /// PostgreSQL connections per event loop.
    public var databasePoolSize: Int
    /// How long the blobs of deleted images wait before they are removed.
    public var blobFreeGraceSeconds: Double = 60
    /// Threads that decode and resize images, and how many of them one account may use at once.
    public var decodeThreads: Int = 2
    public var decodesPerAccount: Int = 1
    /// Behind a reverse proxy: the header it writes the client address into (e.g.
    /// `X-Forwarded-For`), and the proxy addresses whose header is believed.
    public var trustedProxyHeader: String?
    public var trustedProxies: Set<String> = ["127.0.0.1", "::1"]
    /// Portal sessions end after this long unused, and this long after sign-in in any case.
    public var sessionIdleSeconds: Double = 12 * 3600
    public var sessionMaxSeconds: Double = 7 * 24 * 3600
    /// Below this much free space under DATA_DIR, writes answer 503 and /readyz is not ready.
    public var minFreeDiskBytes: Int64 = 256 * 1024 * 1024
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`.
    public var metricsToken: String?
    /// When set, the most view passes one detection training makes (the engine's schedule
    /// otherwise): an operator on small machines trades accuracy for time.
    public var detectionMaxSamples: Int?
    /// `s3://BUCKET[/PREFIX]`: blobs in an S3-compatible store instead of under DATA_DIR.
    public var blobStoreURL: String?
    /// The AWS SDKs' variables (`AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`, …) for that store.
    public var awsEnvironment: [String: String] = [:]

    public static func fromEnvironment() -> Settings {
        let env = ProcessInfo.processInfo.environment
        let port = env["PORT"] ?? "8080"
        var s = Settings(
            dataDir: env["DATA_DIR"] ?? "./data",
            databaseURL: env["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 },
            publicURL: env["PUBLIC_URL"] ?? "http://localhost:\(port)",
            configDir: env["SIGHTLINE_CONFIG_DIR"] ?? "./config",
            blobSigningKey: env["BLOB_SIGNING_KEY"] ?? "",
            engineWorkers: Int(env["ENGINE_WORKERS"] ?? "") ?? 1,
            engineHeartbeatSeconds: max(0.2, Double(env["ENGINE_HEARTBEAT_SECONDS"] ?? "") ?? 5),
            weightsDir: env["WEIGHTS_DIR"] ?? "./.cache/weights",
            imageURLFetch: (env["IMAGE_URL_FETCH"] ?? "on").lowercased() != "off",
            imageURLAllowLoopback: env["SIGHTLINE_TEST_ALLOW_LOOPBACK_URLS"] == "1",
            databasePoolSize: max(1, Int(env["DATABASE_POOL_SIZE"] ?? "") ?? 4))
        // Default: the cores shared out among the engine pool's threads (the workers and
        // the prediction thread), so jobs running at once never oversubscribe the CPU.
        s.engineThreads = min(64, max(1, Int(env["ENGINE_THREADS"] ?? "") ?? System.coreCount / (max(1, s.engineWorkers) + 1)))
        s.blobFreeGraceSeconds = min(86_400, max(10, Double(env["BLOB_FREE_GRACE_SECONDS"] ?? "") ?? 60))
        s.decodeThreads = min(64, max(1, Int(env["DECODE_THREADS"] ?? "") ?? max(2, System.coreCount)))
        s.decodesPerAccount = min(64, max(1, Int(env["DECODES_PER_ACCOUNT"] ?? "") ?? 1))
        s.trustedProxyHeader = env["TRUSTED_PROXY_HEADER"].flatMap { $0.isEmpty ? nil : $0 }
        if let list = env["TRUSTED_PROXIES"], !list.isEmpty {
            s.trustedProxies = Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
        s.sessionIdleSeconds = min(365 * 86_400, max(60, (Double(env["SESSION_IDLE_MINUTES"] ?? "") ?? 720) * 60))
        s.sessionMaxSeconds = min(365 * 86_400, max(60, (Double(env["SESSION_MAX_HOURS"] ?? "") ?? 168) * 3600))
        s.minFreeDiskBytes = max(0, Int64(env["MIN_FREE_DISK_MB"] ?? "") ?? 256) * 1024 * 1024
        s.metricsToken = env["METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        s.blobStoreURL = env["BLOB_STORE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        s.awsEnvironment = env.filter { $0.key.hasPrefix("AWS_") }
        s.detectionMaxSamples = Int(env["DETECTION_MAX_SAMPLES"] ?? "").map { min(1_000_000, max(16, $0)) }
        return s
    }

    /// The endpoint users paste into the SDK: always ends with "/" like Azure's.
    public var endpoint: String { publicURL.hasSuffix("/") ? publicURL : publicURL + "/" }
    public var isSecure: Bool { publicURL.lowercased().hasPrefix("https://") }
}

struct SettingsKey: StorageKey { typealias Value = Settings }

extension Application {
    public var settings: Settings {
        get { storage[SettingsKey.self] ?? .fromEnvironment() }
        set { storage[SettingsKey.self] = newValue }
    }
}
