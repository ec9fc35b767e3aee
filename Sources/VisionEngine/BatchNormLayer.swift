import Foundation

/// Batch normalisation over N·H·W per channel, optionally followed by ReLU. Training
/// mode normalises with the batch's statistics and updates running averages (momentum
/// 0.1, unbiased variance, as PyTorch); evaluation mode uses the running averages, which
/// is what `folded` bakes into the preceding convolution.
public final class BatchNormLayer: Layer {
    public let channels: Int
    public let relu: Bool
    public let gamma: Parameter
    public let beta: Parameter
    public var runningMean: [Float]
    public var runningVariance: [Float]
    public var training = true
    public static let epsilon: Float = 1e-5
    public static let momentum: Float = 0.1

    private var saved: (xhat: [Float], invStd: [Float], out: [Float], rows: Int)?

    public init(channels: Int, relu: Bool) {
        precondition(channels > 0)
        self.channels = channels; self.relu = relu
        gamma = Parameter([Float](repeating: 1, count: channels))
        beta = Parameter([Float](repeating: 0, count: channels))
        runningMean = [Float](repeating: 0, count: channels)
        runningVariance = [Float](repeating: 1, count: channels)
    }

    public var parameters: [Parameter] { [gamma, beta] }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.c == channels, "expected \(channels) channels")
        let c = channels, rows = x.count / c
        var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
        if training {
            x.data.withUnsafeBufferPointer { p in
                for r in 0..<rows { for j in 0..<c { mean[j] += p[r * c + j] } }
                for j in 0..<c { mean[j] /= Float(rows) }
                for r in 0..<rows { for j in 0..<c { let z = p[r * c + j] - mean[j]; variance[j] += z * z } }
            }
            for j in 0..<c {
                let biased = variance[j] / Float(rows)
                let unbiased = rows > 1 ? variance[j] / Float(rows - 1) : biased
                runningMean[j] = (1 - Self.momentum) * runningMean[j] + Self.momentum * mean[j]
                runningVariance[j] = (1 - Self.momentum) * runningVariance[j] + Self.momentum * unbiased
                variance[j] = biased
            }
        } else {
            mean = runningMean; variance = runningVariance
        }
        let invStd = variance.map { 1 / ($0 + Self.epsilon).squareRoot() }
        var xhat = [Float](repeating: 0, count: x.count), out = [Float](repeating: 0, count: x.count)
        x.data.withUnsafeBufferPointer { p in
            xhat.withUnsafeMutableBufferPointer { h in
                out.withUnsafeMutableBufferPointer { o in
                    for r in 0..<rows {
                        for j in 0..<c {
                            let i = r * c + j
                            h[i] = (p[i] - mean[j]) * invStd[j]
                            let y = gamma.value[j] * h[i] + beta.value[j]
                            o[i] = relu ? max(y, 0) : y
                        }
                    }
                }
            }
        }
        saved = training ? (xhat, invStd, out, rows) : nil
        return Tensor(n: x.n, h: x.h, w: x.w, c: c, data: out)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let s = saved else { preconditionFailure("backward needs a training-mode forward") }
        let c = channels, rows = s.rows
        precondition(dy.count == rows * c, "gradient does not match the output")
        var g = dy.data
        if relu { for i in g.indices where s.out[i] <= 0 { g[i] = 0 } }
        var dGamma = [Float](repeating: 0, count: c), dBeta = [Float](repeating: 0, count: c)
        for r in 0..<rows { for j in 0..<c { let i = r * c + j; dGamma[j] += g[i] * s.xhat[i]; dBeta[j] += g[i] } }
        gamma.gradient = dGamma
        beta.gradient = dBeta
        // dx = γ/σ · (g − mean(g) − x̂ · mean(g · x̂))
        var dx = [Float](repeating: 0, count: g.count)
        let n = Float(rows)
        for r in 0..<rows {
            for j in 0..<c {
                let i = r * c + j
                dx[i] = gamma.value[j] * s.invStd[j] * (g[i] - dBeta[j] / n - s.xhat[i] * dGamma[j] / n)
            }
        }
        return Tensor(n: dy.n, h: dy.h, w: dy.w, c: c, data: dx)
    }

    /// The evaluation-mode transform as a per-channel scale and shift.
    public var folded: (scale: [Float], shift: [Float]) {
        var scale = [Float](repeating: 0, count: channels), shift = scale
        for j in 0..<channels {
            scale[j] = gamma.value[j] / (runningVariance[j] + Self.epsilon).squareRoot()
            shift[j] = beta.value[j] - runningMean[j] * scale[j]
        }
        return (scale, shift)
    }
}
