import Fluent
import NIOConcurrencyHelpers
import Vapor
import VisionEngine

/// Published iterations' heads, loaded once and kept warm, run on the shared backbone
/// each head names.
final class Predictor: @unchecked Sendable {
    /// ClassifierHead or DetectorHead per iteration.
    private let models = NIOLockedValueBox<[UUID: any Sendable]>([:])

    private func model<T: Sendable>(for it: Iteration, blobs: any BlobStore, _ decode: (Data) throws -> T) async throws -> T {
        if let h = models.withLockedValue({ $0[it.id!] }) as? T { return h }
        guard let hash = it.modelHash else { throw CVError(.internalServerError, "ErrorPredictionModelNotFound", "The iteration has no model.") }
        let h = try decode(try await blobs.read(hash))
        models.withLockedValue { $0[it.id!] = h }
        return h
    }

    func head(for it: Iteration, blobs: any BlobStore) async throws -> ClassifierHead { try await model(for: it, blobs: blobs, ClassifierHead.deserialise) }

    /// Fine-tuned backbones (Advanced training) per iteration, the most recently used few:
    /// each holds its own prepared weights (tens of MB), so the rest are rebuilt on demand.
    private let tuned = NIOLockedValueBox<(models: [UUID: EfficientNetLite], recent: [UUID])>(([:], []))
    static let tunedKept = 6

    private func backbone(for head: ClassifierHead, iteration id: UUID, engine: Engine) throws -> EfficientNetLite {
        let shared = try engine.backbone(named: head.backbone)
        guard head.tail != nil else { return shared }
        if let m = tuned.withLockedValue({ state -> EfficientNetLite? in
            guard let m = state.models[id] else { return nil }
            state.recent.removeAll { $0 == id }
            state.recent.append(id)
            return m
        }) { return m }
        let m = try shared.tuned(for: head)
        tuned.withLockedValue { state in
            state.models[id] = m
            state.recent.removeAll { $0 == id }
            state.recent.append(id)
            while state.recent.count > Self.tunedKept { state.models[state.recent.removeFirst()] = nil }
        }
        return m
    }
    func detector(for it: Iteration, blobs: any BlobStore) async throws -> DetectorHead { try await model(for: it, blobs: blobs, DetectorHead.deserialise) }

    /// Detections (tag id, probability, box), most probable first: the whole image resized
    /// to the detector's input (416×416 for the compact format), the backbone's head and
    /// stride-16 maps, the detector, decoding and NMS.
    func detect(_ data: Data, iteration it: Iteration, account: UUID, app: Application) async throws -> [(tagID: String, detection: Detection)] {
        let head = try await detector(for: it, blobs: app.blobStore)
        let engine = app.engine
        let size = head.inputSize
        let input = try await app.predictionDecodePool.run(account: account) { () throws -> [Float] in
            let img = try ImageDecoder.rgb8(data)
            return try DetectionView.whole.input(rgb: img.pixels, width: img.width, height: img.height, size: size)
        }
        let found: [Detection] = try await engine.run {
            let model = try engine.backbone(named: head.backbone)
            let maps = model.forward(Tensor(n: 1, h: size, w: size, c: 3, data: input), maps: Set(DetectionFeatures.levels))
            return head.detect(DetectionFeatures.headInputs(maps)[0])
        }
        return found.map { (head.tagIDs[$0.tag], $0) }
    }

    /// Tag probabilities for encoded image bytes, highest first, the image framed as the
    /// head's training images were (the whole image, resized; older heads: the centre
    /// crop). The decode runs on the
    /// predictions' decode pool under `account`'s share of it; only the network runs on the engine.
    func classify(_ data: Data, iteration it: Iteration, account: UUID, app: Application) async throws -> [(tagID: String, probability: Float)] {
        let head = try await head(for: it, blobs: app.blobStore)
        let engine = app.engine
        let size = head.inputSize
        let view = AugmentationView.plain(head.framing)
        let input = try await app.predictionDecodePool.run(account: account) { try Preprocessor.input(encoded: data, size: size, view: view) }
        let id = it.id!
        let probs: [Float] = try await engine.run { [self] in
            let model = try backbone(for: head, iteration: id, engine: engine)
            let features = model.features(Tensor(n: 1, h: size, w: size, c: 3, data: input))
            return head.probabilities(features)
        }
        return zip(head.tagIDs, probs).map { ($0, $1) }.sorted { $0.1 > $1.1 }
    }
}

struct PredictorKey: StorageKey { typealias Value = Predictor }

extension Application {
    var predictor: Predictor {
        get { storage[PredictorKey.self]! }
        set { storage[PredictorKey.self] = newValue }
    }
}
