import Foundation

/// EfficientNet-Lite (ImageNet weights) for inference on the CPU: MBConv blocks without
/// squeeze-excite, ReLU6, TF-SAME padding, BatchNorm (eps 1e-3) folded into the
/// convolutions when the weights are loaded.
public struct EfficientNetLite: Sendable {
    public enum Variant: String, Sendable, CaseIterable {
        case lite0 = "efficientnet-lite0", lite1 = "efficientnet-lite1"
        public var inputSize: Int { self == .lite0 ? 224 : 240 }
    }

    struct Conv: Sendable {
        var weights: [Float]
        var bias: [Float]
        var k: Int
        var cin: Int
        var cout: Int
    }

    struct Block: Sendable {
        var expand: Conv?
        var depthwise: Conv
        var project: Conv
        var stride: Int
        var residual: Bool
    }

    public let variant: Variant
    let stem: Conv
    let blocks: [Block]
    let head: Conv
    let fcWeights: [Float]   // [1000][1280]
    let fcBias: [Float]
    public static let featureSize = 1280
    public var classes: Int { fcBias.count }

    static let batchNormEpsilon: Float = 1e-3
    /// First-block stride of each stage; a stage starts where the channel count changes.
    static let stageStrides = [1, 2, 2, 2, 1, 2, 1]

    public init(variant: Variant, checkpoint t: [String: CheckpointTensor]) throws {
        self.variant = variant
        func folded(_ conv: String, _ bn: String, depthwise: Bool = false) throws -> Conv {
            try Self.foldedConv(t, conv, bn, depthwise: depthwise)
        }
        func tensor(_ name: String, rank: Int) throws -> CheckpointTensor { try Self.tensor(t, name, rank: rank) }

        stem = try folded("_conv_stem", "_bn0")
        guard stem.cin == 3, stem.k == 3 else { throw CheckpointError.wrongShape("_conv_stem.weight", expected: [32, 3, 3, 3], found: t["_conv_stem.weight"]?.shape ?? []) }
        var blocks: [Block] = []
        var stage = -1
        var channels = stem.cout
        var i = 0
        while t["_blocks.\(i)._depthwise_conv.weight"] != nil {
            let p = "_blocks.\(i)"
            let expand = t["\(p)._expand_conv.weight"] != nil ? try folded("\(p)._expand_conv", "\(p)._bn0") : nil
            let dw = try folded("\(p)._depthwise_conv", "\(p)._bn1", depthwise: true)
            let project = try folded("\(p)._project_conv", "\(p)._bn2")
            let cin = expand?.cin ?? dw.cin
            guard cin == channels, dw.cin == (expand?.cout ?? cin), project.cin == dw.cout else {
                throw CheckpointError.malformed("block \(i) channels do not chain (\(channels) → \(cin))")
            }
            var stride = 1
            if i == 0 || project.cout != channels {
                stage += 1
                guard stage < Self.stageStrides.count else { throw CheckpointError.malformed("more stages than EfficientNet-Lite has") }
                stride = Self.stageStrides[stage]
            }
            blocks.append(Block(expand: expand, depthwise: dw, project: project, stride: stride,
                                residual: stride == 1 && cin == project.cout))
            channels = project.cout
            i += 1
        }
        guard stage == Self.stageStrides.count - 1 else { throw CheckpointError.malformed("expected 7 stages, found \(stage + 1)") }
        self.blocks = blocks
        head = try folded("_conv_head", "_bn1")
        guard head.cin == channels, head.cout == Self.featureSize else {
            throw CheckpointError.wrongShape("_conv_head.weight", expected: [Self.featureSize, channels, 1, 1], found: t["_conv_head.weight"]?.shape ?? [])
        }
        let fc = try tensor("_fc.weight", rank: 2), fcb = try tensor("_fc.bias", rank: 1)
        guard fc.shape[1] == Self.featureSize, fcb.count == fc.shape[0] else {
            throw CheckpointError.wrongShape("_fc.weight", expected: [fcb.count, Self.featureSize], found: fc.shape)
        }
        fcWeights = fc.values
        fcBias = fcb.values
    }

static func tensor(_ t: [String: CheckpointTensor], _ name: String, rank: Int) throws -> CheckpointTensor {
        guard let x = t[name] else { throw CheckpointError.missingTensor(name) }
        guard x.shape.count == rank else { throw CheckpointError.wrongShape(name, expected: [Int](repeating: -1, count: rank), found: x.shape) }
        guard x.values.allSatisfy(\.isFinite) else { throw CheckpointError.malformed("tensor \(name) holds NaN or infinity") }
        return x
    }
/// Folds BatchNorm `bn` into the conv `conv`, whose logical weight is (cout, cin/groups, k, k),
/// and lays the weights out for the kernels.
static func foldedConv(_ t: [String: CheckpointTensor], _ conv: String, _ bn: String, depthwise: Bool) throws -> Conv {
        let w = try tensor(t, conv + ".weight", rank: 4)
        let (cout, cinG, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        guard kh == kw else { throw CheckpointError.wrongShape(conv, expected: [cout, cinG, kh, kh], found: w.shape) }
        var vectors: [[Float]] = []
        for p in ["weight", "bias", "running_mean", "running_var"] {
            let v = try tensor(t, "\(bn).\(p)", rank: 1)
            guard v.count == cout else { throw CheckpointError.wrongShape("\(bn).\(p)", expected: [cout], found: v.shape) }
            vectors.append(v.values)
        }
        let (gamma, beta, mean, variance) = (vectors[0], vectors[1], vectors[2], vectors[3])
        var scale = [Float](repeating: 0, count: cout), bias = [Float](repeating: 0, count: cout)
        for o in 0..<cout {
            scale[o] = gamma[o] / (variance[o] + Self.batchNormEpsilon).squareRoot()
            bias[o] = beta[o] - mean[o] * scale[o]
        }
        let k = kh
        if depthwise {
            guard cinG == 1 else { throw CheckpointError.wrongShape(conv, expected: [cout, 1, k, k], found: w.shape) }
            var out = [Float](repeating: 0, count: k * k * cout)   // [kh][kw][c]
            for c in 0..<cout { for y in 0..<k { for x in 0..<k {
                out[(y * k + x) * cout + c] = w.values[(c * k + y) * k + x] * scale[c]
            } } }
            return Conv(weights: out, bias: bias, k: k, cin: cout, cout: cout)
        }
        var out = [Float](repeating: 0, count: k * k * cinG * cout)   // [kh][kw][cin][cout]
        for o in 0..<cout { for i in 0..<cinG { for y in 0..<k { for x in 0..<k {
            out[((y * k + x) * cinG + i) * cout + o] = w.values[((o * cinG + i) * k + y) * k + x] * scale[o]
        } } } }
        return Conv(weights: out, bias: bias, k: k, cin: cinG, cout: cout)
    }

    /// OpenBLAS threads for the pointwise GEMMs. One per job by default: on a shared
    /// 2-core machine parallel jobs beat threaded GEMMs of these sizes.
    public static func setBLASThreads(_ n: Int) { Kernels.setThreads(max(1, n)) }
    private static let defaultThreads: Void = Kernels.setThreads(1)

    /// Loads a legacy `.pth` checkpoint.
    public static func load(variant: Variant, path: String) throws -> EfficientNetLite {
        _ = defaultThreads
        return try EfficientNetLite(variant: variant, checkpoint: try CheckpointReader.read(path: path))
    }

    public var blockCount: Int { blocks.count }

    /// The pooled 1280-d features for a batch of preprocessed images ([N, S, S, 3]).
    public func features(_ input: Tensor) -> [Float] {
        precondition(input.c == 3, "input must have 3 channels")
        var x = Kernels.conv(input, weights: stem.weights, bias: stem.bias, k: stem.k, stride: 2, cout: stem.cout, relu6: true)
        for b in blocks {
            let shortcut = b.residual ? x : nil
            if let e = b.expand { x = Kernels.pointwise(x, weights: e.weights, bias: e.bias, cout: e.cout, relu6: true) }
            x = Kernels.depthwise(x, weights: b.depthwise.weights, bias: b.depthwise.bias, k: b.depthwise.k, stride: b.stride)
            x = Kernels.pointwise(x, weights: b.project.weights, bias: b.project.bias, cout: b.project.cout, relu6: false, residual: shortcut)
        }
        x = Kernels.pointwise(x, weights: head.weights, bias: head.bias, cout: head.cout, relu6: true)
        return Kernels.globalAveragePool(x)
    }

    /// ImageNet logits for pooled features ([N, 1280] → [N, 1000]).
    public func logits(features: [Float]) -> [Float] {
        let rows = features.count / Self.featureSize
        return Kernels.dense(features, rows: rows, k: Self.featureSize, weights: fcWeights, cols: classes, bias: fcBias)
    }
}
