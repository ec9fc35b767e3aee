import NIOConcurrencyHelpers
import Vapor
import VisionEngine

/// The backbones, each loaded once per process when a domain first needs it and shared by
/// training, prediction and export; and the thread pool the engine's CPU work runs on
/// (never the event loops).
final class Engine: @unchecked Sendable {
    let weightsDir: String
    let threads: NIOThreadPool
    /// OpenMP threads each job's forward pass uses; set on the job's own thread, so two
    /// jobs at once use 2 × this many cores.
    let threadsPerJob: Int
    private let lock = NIOLock()
    private var models: [EfficientNetLite.Variant: EfficientNetLite] = [:]

    init(weightsDir: String, workers: Int, threadsPerJob: Int = 1) {
        self.weightsDir = weightsDir
        self.threadsPerJob = max(1, threadsPerJob)
        // One thread per engine worker plus one for predictions.
        threads = NIOThreadPool(numberOfThreads: max(1, workers) + 1)
        threads.start()
    }

    func backbone(_ variant: EfficientNetLite.Variant) throws -> EfficientNetLite {
        try lock.withLock {
            if let model = models[variant] { return model }
            let m = try BackboneWeights.load(variant, directory: weightsDir).with(threads: threadsPerJob)
            models[variant] = m
            return m
        }
    }

    /// The backbone a trained head was trained on (its file names it).
    func backbone(named name: String) throws -> EfficientNetLite {
        guard let variant = EfficientNetLite.Variant(rawValue: name) else {
            throw CVError(.internalServerError, "ErrorUnknownBaseModel", "The model was trained on a backbone this server does not have (\(name.prefix(64))).")
        }
        return try backbone(variant)
    }

    /// Runs CPU-bound engine work off the event loops.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await threads.runIfActive(body)
    }

    func shutdown() {
        try? threads.syncShutdownGracefully()
    }
}

struct EngineKey: StorageKey { typealias Value = Engine }

extension Application {
    var engine: Engine {
        get { storage[EngineKey.self]! }
        set { storage[EngineKey.self] = newValue }
    }
}

/// Shuts the engine's threads down with the application.
struct EngineLifecycle: LifecycleHandler {
    func shutdown(_ app: Application) {
        app.storage[EngineKey.self]?.shutdown()
    }
}
