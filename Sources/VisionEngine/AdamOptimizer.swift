import Foundation

/// Adam (Kingma & Ba) with optional decoupled weight decay (AdamW), over parameters'
/// last gradients.
public final class AdamOptimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private var step = 0
    /// First and second moments per parameter, updated in place.
    private final class Moments {
        var m: [Float], v: [Float]
        init(_ n: Int) { m = [Float](repeating: 0, count: n); v = m }
    }
    private var moments: [ObjectIdentifier: Moments] = [:]

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        precondition(learningRate > 0 && (0..<1).contains(beta1) && (0..<1).contains(beta2) && epsilon > 0 && weightDecay >= 0,
                     "bad Adam settings")
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
    }

    /// One update of every parameter from its gradient.
    public func update(_ parameters: [Parameter]) {
        step += 1
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        let (b1, b2, eps, lr, wd) = (beta1, beta2, epsilon, learningRate, weightDecay)
        for p in parameters {
            precondition(p.gradient.count == p.value.count, "gradient and value differ in size")
            let id = ObjectIdentifier(p)
            let state = moments[id] ?? { let s = Moments(p.value.count); moments[id] = s; return s }()
            let n = p.value.count
            p.gradient.withUnsafeBufferPointer { g in
                p.value.withUnsafeMutableBufferPointer { x in
                    state.m.withUnsafeMutableBufferPointer { m in
                        state.v.withUnsafeMutableBufferPointer { v in
                            for i in 0..<n {
                                m[i] = b1 * m[i] + (1 - b1) * g[i]
                                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                                x[i] -= lr * ((m[i] / c1) / ((v[i] / c2).squareRoot() + eps) + wd * x[i])
                            }
                        }
                    }
                }
            }
        }
    }
}
