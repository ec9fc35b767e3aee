import CHalfFloat
import Foundation

/// Detection head inputs (13×13×1728 per view, ~0.6 MB in float16) cached per (image
/// bytes, backbone + view scheme, view), so a retrain computes only new images' views.
/// They are too large to keep all in memory for big projects: the app streams them from
/// disk (`DiskDetectionFeatureCache`); tests keep them in memory.
public protocol DetectionFeatureCache: Sendable {
    /// IEEE float16 bit patterns.
    func loadHalves(_ key: FeatureKey) throws -> [UInt16]?
    func contains(_ key: FeatureKey) -> Bool
    func storeHalves(_ halves: [UInt16], for key: FeatureKey) throws
}

extension DetectionFeatureCache {
    public func load(_ key: FeatureKey) throws -> [Float]? { try loadHalves(key).map { HalfFloats.decode($0) } }
    public func store(_ features: [Float], for key: FeatureKey) throws { try storeHalves(HalfFloats.encode(features), for: key) }
}

/// Float16 arrays converted with the CPU's F16C instructions.
public enum HalfFloats {
    public static func encode(_ x: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { d in sl_float_to_half(s.baseAddress, d.baseAddress, x.count) } }
        return out
    }

    public static func decode(_ h: [UInt16]) -> [Float] {
        var out = [Float](repeating: 0, count: h.count)
        h.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { d in sl_half_to_float(s.baseAddress, d.baseAddress, h.count) } }
        return out
    }

    /// Decodes onto the end of `out`, each value times `scale[i % scale.count]`.
    static func append(_ h: [UInt16], scaledBy scale: [Float], to out: inout [Float]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: h.count))
        h.withUnsafeBufferPointer { s in
            scale.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { d in
                    sl_half_to_float_scaled(s.baseAddress, d.baseAddress! + start, h.count, m.baseAddress, scale.count)
                }
            }
        }
    }
}

/// Float16 in memory.
public final class InMemoryDetectionFeatureCache: DetectionFeatureCache, @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [FeatureKey: [UInt16]] = [:]
    public init() {}

    public func loadHalves(_ key: FeatureKey) -> [UInt16]? {
        lock.lock(); defer { lock.unlock() }
        return entries[key]
    }

    public func contains(_ key: FeatureKey) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return entries[key] != nil
    }

    public func storeHalves(_ halves: [UInt16], for key: FeatureKey) {
        lock.lock(); defer { lock.unlock() }
        entries[key] = halves
    }

    public var count: Int {
        lock.lock(); defer { lock.unlock() }
        return entries.count
    }
}

/// Float16 files, one per key, written atomically, under one folder per image
/// (`<directory>/<blob hash>/<backbone>-<view>.f16`), so an image's views go with it in one
/// removal when its bytes are deleted.
public final class DiskDetectionFeatureCache: DetectionFeatureCache, @unchecked Sendable {
    public let directory: URL

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Names made of letters, digits and `-` only; nothing can climb out of the directory.
    static func safe(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
    }

    func folder(_ hash: String) -> URL { directory.appendingPathComponent(Self.safe(hash)) }

    func url(_ key: FeatureKey) -> URL {
        folder(key.blobHash).appendingPathComponent(Self.safe(key.backbone) + "-\(key.view).f16")
    }

    public func contains(_ key: FeatureKey) -> Bool { FileManager.default.fileExists(atPath: url(key).path) }

    public func loadHalves(_ key: FeatureKey) throws -> [UInt16]? {
        guard let data = try? Data(contentsOf: url(key)), data.count % 2 == 0 else { return nil }
        var out = [UInt16](repeating: 0, count: data.count / 2)
        out.withUnsafeMutableBytes { dst in data.withUnsafeBytes { src in dst.copyMemory(from: src) } }
        return out
    }

    /// The blob hashes that have cached views.
    public func hashes() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.isDirectoryKey])) ?? []
        return entries.filter { (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }.map(\.lastPathComponent)
    }

    /// Drops every cached view of one image.
    public func remove(hash: String) {
        try? FileManager.default.removeItem(at: folder(hash))
    }

    /// Drops files of the earlier flat layout (one directory for all images), which this
    /// layout never reads.
    @discardableResult
    public func removeLooseFiles() -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.isRegularFileKey])) ?? []
        var removed = 0
        for url in entries where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            if (try? FileManager.default.removeItem(at: url)) != nil { removed += 1 }
        }
        return removed
    }

    /// Drops views cached under another view scheme than `scheme` (an earlier definition
    /// of the views or of their resize), which no key of this one names.
    @discardableResult
    public func removeOtherSchemes(than scheme: String) -> Int {
        let mark = "-" + Self.safe(scheme) + "-"
        var removed = 0
        for hash in hashes() {
            let files = (try? FileManager.default.contentsOfDirectory(at: folder(hash), includingPropertiesForKeys: nil)) ?? []
            for file in files where file.pathExtension == "f16" && !file.lastPathComponent.contains(mark) {
                if (try? FileManager.default.removeItem(at: file)) != nil { removed += 1 }
            }
        }
        return removed
    }

    public func storeHalves(_ halves: [UInt16], for key: FeatureKey) throws {
        try FileManager.default.createDirectory(at: folder(key.blobHash), withIntermediateDirectories: true)
        try halves.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: url(key), options: .atomic)
    }
}

/// Runs the backbone over detection views and caches the head inputs.
public struct DetectionExtractor: Sendable {
    public let model: EfficientNetLite
    public let cache: DetectionFeatureCache
    /// The network input's side: 416 (the compact format) or a larger multiple of 32.
    public let inputSize: Int

    public init(model: EfficientNetLite, cache: DetectionFeatureCache, inputSize: Int = DetectionGrid.inputSize) {
        precondition(inputSize % DetectionGrid.stride == 0, "the input must be a multiple of 32")
        self.model = model; self.cache = cache; self.inputSize = inputSize
    }

    /// The backbone part of cache keys: network, input size and view scheme.
    public var backboneKey: String { "\(model.variant.rawValue)@\(inputSize)-\(DetectionView.scheme)" }

    public func key(_ hash: String, _ view: DetectionView) -> FeatureKey {
        FeatureKey(blobHash: hash, backbone: backboneKey, view: view.index)
    }

    /// The head input for one view of decoded pixels.
    public func headInput(rgb: [UInt8], width: Int, height: Int, view: DetectionView) throws -> [Float] {
        let size = inputSize
        let x = try view.input(rgb: rgb, width: width, height: height, size: size)
        let out = model.forward(Tensor(n: 1, h: size, w: size, c: 3, data: x), maps: Set(DetectionFeatures.levels))
        return DetectionFeatures.headInputs(out)[0]
    }

    /// Makes sure every (source, view) is cached; returns how many were computed.
    /// `shouldStop` is asked between images (cancellation). Each view's preprocessing
    /// (crop, resize, jitter: single-threaded libvips and Swift) runs on a helper thread one
    /// view ahead of the backbone, so the two overlap.
    public func extract(_ sources: [FeatureSource], views: [DetectionView], shouldStop: () -> Bool = { false }) throws -> Int {
        var computed = 0
        let size = inputSize
        let prep = DispatchQueue(label: "sightline.detection-preprocessing")
        final class Slot: @unchecked Sendable { var result: Result<[Float], Error>?; let done = DispatchGroup() }
        for source in sources {
            if shouldStop() { break }
            let missing = views.filter { !cache.contains(key(source.hash, $0)) }
            guard !missing.isEmpty else { continue }
            let image = try source.pixels()
            func launch(_ view: DetectionView) -> Slot {
                let slot = Slot()
                slot.done.enter()
                prep.async {
                    slot.result = Result { try view.input(rgb: image.rgb, width: image.width, height: image.height, size: size) }
                    slot.done.leave()
                }
                return slot
            }
            var next = launch(missing[0])
            for (i, view) in missing.enumerated() {
                let current = next
                if i + 1 < missing.count { next = launch(missing[i + 1]) }
                current.done.wait()
                let x = try current.result!.get()
                let out = model.forward(Tensor(n: 1, h: size, w: size, c: 3, data: x), maps: Set(DetectionFeatures.levels))
                try cache.store(DetectionFeatures.headInputs(out)[0], for: key(source.hash, view))
                computed += 1
            }
        }
        return computed
    }
}
