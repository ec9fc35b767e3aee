import Foundation

/// Features are cached per (image bytes, backbone, view), so retraining after adding a
/// few images computes only theirs. The app persists them; tests use the memory cache.
/// `view` is the view's `cacheIndex`, which tells framings apart.
public struct FeatureKey: Hashable, Sendable, Codable {
    public var blobHash: String
    public var backbone: String
    public var view: Int

    public init(blobHash: String, backbone: String, view: Int) {
        self.blobHash = blobHash; self.backbone = backbone; self.view = view
    }
}

public protocol FeatureCache: Sendable {
    func features(for key: FeatureKey) -> [Float]?
    func store(_ features: [Float], for key: FeatureKey)
}

/// A process-local cache that also counts what it was asked to compute.
public final class InMemoryFeatureCache: FeatureCache, @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [FeatureKey: [Float]] = [:]
    public init() {}

    public func features(for key: FeatureKey) -> [Float]? {
        lock.lock(); defer { lock.unlock() }
        return entries[key]
    }

    public func store(_ features: [Float], for key: FeatureKey) {
        lock.lock(); defer { lock.unlock() }
        entries[key] = features
    }

    public var count: Int {
        lock.lock(); defer { lock.unlock() }
        return entries.count
    }
}

/// An image to featurise: its content hash (the cache key) and a way to get its pixels.
public struct FeatureSource: Sendable {
    public var hash: String
    public var pixels: @Sendable () throws -> (rgb: [UInt8], width: Int, height: Int)

    public init(hash: String, pixels: @escaping @Sendable () throws -> (rgb: [UInt8], width: Int, height: Int)) {
        self.hash = hash; self.pixels = pixels
    }

    /// From encoded bytes (any accepted format).
    public static func encoded(_ data: Data, hash: String) -> FeatureSource {
        FeatureSource(hash: hash) {
            let img = try ImageDecoder.rgb8(data)
            return (img.pixels, img.width, img.height)
        }
    }
}

/// Pooled backbone features per image and view, through a cache, in batches.
public struct FeatureExtractor: Sendable {
    public let model: EfficientNetLite
    public let cache: FeatureCache
    public var batchSize = 8

    public init(model: EfficientNetLite, cache: FeatureCache) {
        self.model = model; self.cache = cache
    }

    /// Features for every (source, view): result[i][v] is source i under views[v].
    /// Returns how many were computed (not found in the cache) too.
    public func features(_ sources: [FeatureSource], views: [AugmentationView]) throws -> (features: [[[Float]]], computed: Int) {
        let backbone = model.variant.rawValue
        var out = [[[Float]]](repeating: [[Float]](repeating: [], count: views.count), count: sources.count)
        var pending: [(i: Int, v: Int, input: [Float])] = []
        var computed = 0
        func flush() {
            guard !pending.isEmpty else { return }
            let size = model.variant.inputSize
            let batch = Tensor(n: pending.count, h: size, w: size, c: 3, data: pending.flatMap(\.input))
            let f = model.features(batch)
            for (j, p) in pending.enumerated() {
                let vector = Array(f[j * EfficientNetLite.featureSize..<(j + 1) * EfficientNetLite.featureSize])
                out[p.i][p.v] = vector
                if let key = key(sources[p.i], views[p.v]) { cache.store(vector, for: key) }
            }
            computed += pending.count
            pending.removeAll(keepingCapacity: true)
        }
        // Colour-jittered views are never cached: their number does not carry the jitter's amounts.
        func key(_ source: FeatureSource, _ view: AugmentationView) -> FeatureKey? {
            view.isCacheable ? FeatureKey(blobHash: source.hash, backbone: backbone, view: view.cacheIndex) : nil
        }
        func cached(_ source: FeatureSource, _ view: AugmentationView) -> Bool {
            key(source, view).flatMap { cache.features(for: $0) } != nil
        }
        for (i, source) in sources.enumerated() {
            var image: (rgb: [UInt8], width: Int, height: Int)?
            var mirrors: [Int: [Float]] = [:]
            for (v, view) in views.enumerated() {
                if let key = key(source, view), let cached = cache.features(for: key) {
                    out[i][v] = cached
                    continue
                }
                if let mirror = mirrors.removeValue(forKey: v) {
                    pending.append((i, v, mirror))
                    if pending.count == batchSize { flush() }
                    continue
                }
                if image == nil { image = try source.pixels() }
                // A later view that is this one mirrored comes from the same resize.
                let twin = views.indices.first { $0 > v && views[$0].isMirror(of: view) && !cached(source, views[$0]) }
                let input = try Preprocessor.inputs(rgb: image!.rgb, width: image!.width, height: image!.height,
                                                    size: model.variant.inputSize, view: view, mirrored: twin != nil)
                if let twin { mirrors[twin] = input.mirror }
                pending.append((i, v, input.view))
                if pending.count == batchSize { flush() }
            }
        }
        flush()
        return (out, computed)
    }
}
