import Foundation

/// Detection head inputs (13×13×1728 per view, ~0.6 MB in float16) cached per (image
/// bytes, backbone + view scheme, view), so a retrain computes only new images' views.
/// They are too large to keep all in memory for big projects: the app streams them from
/// disk (`DiskDetectionFeatureCache`); tests keep them in memory.
public protocol DetectionFeatureCache: Sendable {
    func load(_ key: FeatureKey) throws -> [Float]?
    func contains(_ key: FeatureKey) -> Bool
    func store(_ features: [Float], for key: FeatureKey) throws
}

/// Float16 in memory.
public final class InMemoryDetectionFeatureCache: DetectionFeatureCache, @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [FeatureKey: [Float16]] = [:]
    public init() {}

    public func load(_ key: FeatureKey) -> [Float]? {
        lock.lock(); defer { lock.unlock() }
        return entries[key].map { $0.map(Float.init) }
    }

    public func contains(_ key: FeatureKey) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return entries[key] != nil
    }

    public func store(_ features: [Float], for key: FeatureKey) {
        let half = features.map { Float16($0) }
        lock.lock(); defer { lock.unlock() }
        entries[key] = half
    }

    public var count: Int {
        lock.lock(); defer { lock.unlock() }
        return entries.count
    }
}

/// Float16 files under a directory, one per key, written atomically.
public final class DiskDetectionFeatureCache: DetectionFeatureCache, @unchecked Sendable {
    public let directory: URL

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func url(_ key: FeatureKey) -> URL {
        // Hashes are hex; the backbone key is ours; neither can climb out of the directory.
        let safe = (key.backbone + "-" + key.blobHash).map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }
        return directory.appendingPathComponent(String(safe) + "-\(key.view).f16")
    }

    public func contains(_ key: FeatureKey) -> Bool { FileManager.default.fileExists(atPath: url(key).path) }

    public func load(_ key: FeatureKey) throws -> [Float]? {
        guard let data = try? Data(contentsOf: url(key)) else { return nil }
        guard data.count % 2 == 0 else { return nil }
        return data.withUnsafeBytes { raw in (0..<data.count / 2).map { Float(raw.loadUnaligned(fromByteOffset: $0 * 2, as: Float16.self)) } }
    }

    public func store(_ features: [Float], for key: FeatureKey) throws {
        let half = features.map { Float16($0) }
        try half.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: url(key), options: .atomic)
    }
}

/// Runs the backbone over detection views and caches the head inputs.
public struct DetectionExtractor: Sendable {
    public let model: EfficientNetLite
    public let cache: DetectionFeatureCache

    public init(model: EfficientNetLite, cache: DetectionFeatureCache) { self.model = model; self.cache = cache }

    /// The backbone part of cache keys: network, input size and view scheme.
    public var backboneKey: String { "\(model.variant.rawValue)@\(DetectionGrid.inputSize)-\(DetectionView.scheme)" }

    public func key(_ hash: String, _ view: DetectionView) -> FeatureKey {
        FeatureKey(blobHash: hash, backbone: backboneKey, view: view.index)
    }

    /// The head input for one view of decoded pixels.
    public func headInput(rgb: [UInt8], width: Int, height: Int, view: DetectionView) throws -> [Float] {
        let size = DetectionGrid.inputSize
        let x = try view.input(rgb: rgb, width: width, height: height, size: size)
        let out = model.forward(Tensor(n: 1, h: size, w: size, c: 3, data: x), featureMaps: true)
        return DetectionFeatures.headInputs(out)[0]
    }

    /// Makes sure every (source, view) is cached; returns how many were computed.
    /// `shouldStop` is asked between images (cancellation).
    public func extract(_ sources: [FeatureSource], views: [DetectionView], shouldStop: () -> Bool = { false }) throws -> Int {
        var computed = 0
        for source in sources {
            if shouldStop() { break }
            let missing = views.filter { !cache.contains(key(source.hash, $0)) }
            guard !missing.isEmpty else { continue }
            let image = try source.pixels()
            for view in missing {
                try cache.store(try headInput(rgb: image.rgb, width: image.width, height: image.height, view: view),
                                for: key(source.hash, view))
                computed += 1
            }
        }
        return computed
    }
}
