import Foundation

/// Adam (Kingma & Ba) with optional decoupled weight decay (AdamW), over parameters'
/// last gradients.
public final class AdamOptimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private var step = 0
    private var moments: [ObjectIdentifier: (m: [Float], v: [Float])] = [:]

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        precondition(learningRate > 0 && (0..<1).contains(beta1) && (0..<1).contains(beta2) && epsilon > 0 && weightDecay >= 0,
                     "bad Adam settings")
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
    }

    /// One update of every parameter from its gradient.
    public func update(_ parameters: [Parameter]) {
        step += 1
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        for p in parameters {
            precondition(p.gradient.count == p.value.count, "gradient and value differ in size")
            let id = ObjectIdentifier(p)
            var (m, v) = moments[id] ?? ([Float](repeating: 0, count: p.value.count), [Float](repeating: 0, count: p.value.count))
            for i in p.value.indices {
                let g = p.gradient[i]
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                p.value[i] -= learningRate * ((m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon) + weightDecay * p.value[i])
            }
            moments[id] = (m, v)
        }
    }
}
