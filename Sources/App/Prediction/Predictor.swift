import Fluent
import NIOConcurrencyHelpers
import Vapor
import VisionEngine

/// Published iterations' heads, loaded once and kept warm, run on the shared backbone.
final class Predictor: @unchecked Sendable {
    private let heads = NIOLockedValueBox<[UUID: ClassifierHead]>([:])

    func head(for it: Iteration, blobs: BlobStore) throws -> ClassifierHead {
        if let h = heads.withLockedValue({ $0[it.id!] }) { return h }
        guard let hash = it.modelHash else { throw CVError(.internalServerError, "ErrorPredictionModelNotFound", "The iteration has no model.") }
        let h = try ClassifierHead.deserialise(try blobs.read(hash))
        heads.withLockedValue { $0[it.id!] = h }
        return h
    }

    /// Tag probabilities for encoded image bytes, highest first. The decode runs on the
    /// predictions' decode pool under `account`'s share of it; only the network runs on the engine.
    func classify(_ data: Data, iteration it: Iteration, account: UUID, app: Application) async throws -> [(tagID: String, probability: Float)] {
        let head = try head(for: it, blobs: app.blobStore)
        let engine = app.engine
        let size = engine.variant.inputSize
        let input = try await app.predictionDecodePool.run(account: account) { try Preprocessor.input(encoded: data, size: size) }
        let probs: [Float] = try await engine.run {
            let model = try engine.backbone()
            let features = model.features(Tensor(n: 1, h: model.variant.inputSize, w: model.variant.inputSize, c: 3, data: input))
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
