import Foundation

/// EfficientNet-Lite (ImageNet weights) for inference on the CPU: MBConv blocks without
/// squeeze-excite, ReLU6, TF-SAME padding, BatchNorm (eps 1e-3) folded into the
/// convolutions when the weights are loaded.
public struct EfficientNetLite: Sendable {
    public enum Variant: String, Sendable, CaseIterable {
        case lite0 = "efficientnet-lite0", lite1 = "efficientnet-lite1"
        public var inputSize: Int { self == .lite0 ? 224 : 240 }
    }

    /// A convolution with BatchNorm folded in. Weights are in the logical layout
    /// `[cout][cin / groups][k][k]` (PyTorch's and ONNX's); oneDNN reorders them once.
    struct Conv: Sendable {
        var weights: [Float]
        var bias: [Float]
        var k: Int
        var cin: Int
        var cout: Int
        var groups = 1
        /// Position in the network, the key of its prepared weights.
        var id = 0
        var depthwise: Bool { groups > 1 }
    }

    struct Block: Sendable {
        var expand: Conv?
        var depthwise: Conv
        var project: Conv
        var stride: Int
        var residual: Bool
        var stage: Int
    }

    public let variant: Variant
    /// OpenMP threads per forward pass; a job runs on one thread of its own pool.
    public var threads = 1
    var stem: Conv
    var blocks: [Block]
    var head: Conv
    /// Compiled forward passes per input shape, shared by copies of this value (a copy
    /// with other weights gets its own: `withTail(_:)`).
    private(set) var plans: ForwardPlans
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

        var stem = try folded("_conv_stem", "_bn0")
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
                                residual: stride == 1 && cin == project.cout, stage: stage))
            channels = project.cout
            i += 1
        }
        guard stage == Self.stageStrides.count - 1 else { throw CheckpointError.malformed("expected 7 stages, found \(stage + 1)") }
        var head = try folded("_conv_head", "_bn1")
        guard head.cin == channels, head.cout == Self.featureSize else {
            throw CheckpointError.wrongShape("_conv_head.weight", expected: [Self.featureSize, channels, 1, 1], found: t["_conv_head.weight"]?.shape ?? [])
        }
        let fc = try tensor("_fc.weight", rank: 2), fcb = try tensor("_fc.bias", rank: 1)
        guard fc.shape[1] == Self.featureSize, fcb.count == fc.shape[0] else {
            throw CheckpointError.wrongShape("_fc.weight", expected: [fcb.count, Self.featureSize], found: fc.shape)
        }
        fcWeights = fc.values
        fcBias = fcb.values
        // Number the convolutions: their prepared weights are cached by position.
        var next = 0
        func numbered(_ c: inout Conv) { c.id = next; next += 1 }
        numbered(&stem)
        for b in blocks.indices {
            if blocks[b].expand != nil { numbered(&blocks[b].expand!) }
            numbered(&blocks[b].depthwise)
            numbered(&blocks[b].project)
        }
        numbered(&head)
        self.stem = stem
        self.blocks = blocks
        self.head = head
        plans = ForwardPlans()
    }

    static func tensor(_ t: [String: CheckpointTensor], _ name: String, rank: Int) throws -> CheckpointTensor {
        guard let x = t[name] else { throw CheckpointError.missingTensor(name) }
        guard x.shape.count == rank else { throw CheckpointError.wrongShape(name, expected: [Int](repeating: -1, count: rank), found: x.shape) }
        guard x.values.allSatisfy(\.isFinite) else { throw CheckpointError.malformed("tensor \(name) holds NaN or infinity") }
        return x
    }
    /// Folds BatchNorm `bn` into the conv `conv`, whose logical weight is (cout, cin/groups, k, k).
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
        guard !depthwise || cinG == 1 else { throw CheckpointError.wrongShape(conv, expected: [cout, 1, kh, kh], found: w.shape) }
        let per = cinG * kh * kw
        var out = w.values
        for o in 0..<cout { for i in 0..<per { out[o * per + i] *= scale[o] } }
        return Conv(weights: out, bias: bias, k: kh, cin: depthwise ? cout : cinG, cout: cout, groups: depthwise ? cout : 1)
    }

    /// OpenBLAS threads for the dense layers (logits, classifier heads).
    public static func setBLASThreads(_ n: Int) { Dense.setThreads(max(1, n)) }
    private static let defaultThreads: Void = Dense.setThreads(1)

    /// Loads a legacy `.pth` checkpoint.
    public static func load(variant: Variant, path: String) throws -> EfficientNetLite {
        _ = defaultThreads
        return try EfficientNetLite(variant: variant, checkpoint: try CheckpointReader.read(path: path))
    }

    public var blockCount: Int { blocks.count }

    /// Channels of the `.lastStageInput` feature map (what `trainableTail()` takes).
    public var lastStageInputChannels: Int {
        let first = blocks.first { $0.stage == blocks.last!.stage }!
        return first.expand?.cin ?? first.depthwise.cin
    }

    /// This network with another thread count per forward pass.
    public func with(threads: Int) -> EfficientNetLite {
        var m = self
        m.threads = max(1, threads)
        return m
    }

    /// The pooled 1280-d features for a batch of preprocessed images ([N, H, W, 3]).
    public func features(_ input: Tensor) -> [Float] {
        forward(input).features
    }

    /// One forward pass on oneDNN: pooled features and, on request, the feature maps at
    /// strides 8, 16 and 32 and the head convolution's output (NHWC), for detection heads.
    public func forward(_ input: Tensor, featureMaps: Bool = false) -> BackboneOutput {
        forward(input, maps: featureMaps ? Set(FeatureLevel.allCases) : [])
    }

    /// The pooled features and only the feature maps in `maps` (each one costs a reorder).
    public func forward(_ input: Tensor, maps: Set<FeatureLevel>) -> BackboneOutput {
        let featureMaps = Array(maps)
        precondition(input.c == 3, "input must have 3 channels")
        precondition(input.n > 0 && input.h >= 32 && input.w >= 32, "input must be at least 32×32")
        guard input.n > Self.microBatch else { return pass(input, featureMaps: featureMaps) }
        // Larger batches run as micro-batches through one plan, whose activations stay in cache.
        let per = input.h * input.w * 3
        var out = BackboneOutput(features: [], maps: [])
        out.features.reserveCapacity(input.n * Self.featureSize)
        for start in stride(from: 0, to: input.n, by: Self.microBatch) {
            let n = min(Self.microBatch, input.n - start)
            let part = pass(Tensor(n: n, h: input.h, w: input.w, c: 3, data: Array(input.data[start * per..<(start + n) * per])), featureMaps: featureMaps)
            out.features += part.features
            if out.maps.isEmpty { out.maps = part.maps } else {
                for i in out.maps.indices { out.maps[i].tensor.n += n; out.maps[i].tensor.data += part.maps[i].tensor.data }
            }
        }
        return out
    }

    /// Images per oneDNN execution. Measured on the 2-core AVX-512 machine (release, Lite0
    /// 224): batch 8 as one execution cost 6.2 ms per image against 5.3 ms for batch 1 with
    /// one thread, and 3.3 against 2.5 ms with two: bigger batches' activations leave the
    /// cache while the work per image stays the same.
    static let microBatch = 1

    private func pass(_ input: Tensor, featureMaps: [FeatureLevel]) -> BackboneOutput {
        let key = ForwardPlan.Key(n: input.n, h: input.h, w: input.w, threads: threads, maps: featureMaps)
        return plans.withPlan(key, build: { ForwardPlan(network: self, key: key) }) { $0.run(input) }
    }

    /// The last stage, the head convolution and the pooling as trainable layers with
    /// this network's weights: fine-tuned on the `.lastStageInput` feature maps, they
    /// start out computing exactly `features(_:)`.
    public func trainableTail() -> LayerStack {
        func layer(_ c: Conv, stride: Int, relu6: Bool) -> ConvolutionLayer {
            ConvolutionLayer(cin: c.cin, cout: c.cout, k: c.k, stride: stride, groups: c.groups,
                             relu6: relu6, weights: c.weights, bias: c.bias)
        }
        let last = blocks.last!.stage
        var layers: [any Layer] = []
        for b in blocks where b.stage == last {
            var body: [any Layer] = []
            if let e = b.expand { body.append(layer(e, stride: 1, relu6: true)) }
            body.append(layer(b.depthwise, stride: b.stride, relu6: true))
            body.append(layer(b.project, stride: 1, relu6: false))
            layers.append(b.residual ? ResidualLayer(LayerStack(body)) : LayerStack(body))
        }
        layers.append(layer(head, stride: 1, relu6: true))
        layers.append(GlobalAveragePoolLayer())
        return LayerStack(layers)
    }

    /// This network with the weights of a `trainableTail()` after training: the parts
    /// before the last stage are shared, forward passes are compiled anew.
    public func withTail(_ tail: LayerStack) throws -> EfficientNetLite {
        try withTail(values: tail.parameters.map(\.value))
    }

    /// This network with a stored tail's weights (`trainableTail()`'s parameters in order).
    public func withTail(values tail: [[Float]]) throws -> EfficientNetLite {
        var values = tail[...]
        func take(_ c: inout Conv) throws {
            guard values.count >= 2 else { throw HeadError.corruptModel("the fine-tuned tail does not match the backbone") }
            let w = values.removeFirst(), b = values.removeFirst()
            guard w.count == c.weights.count, b.count == c.bias.count, (w + b).allSatisfy(\.isFinite) else {
                throw HeadError.corruptModel("the fine-tuned tail does not match the backbone")
            }
            c.weights = w; c.bias = b
        }
        var m = self
        let last = blocks.last!.stage
        for i in m.blocks.indices where m.blocks[i].stage == last {
            if m.blocks[i].expand != nil { try take(&m.blocks[i].expand!) }
            try take(&m.blocks[i].depthwise)
            try take(&m.blocks[i].project)
        }
        try take(&m.head)
        guard values.isEmpty else { throw HeadError.corruptModel("the fine-tuned tail does not match the backbone") }
        m.plans = ForwardPlans()
        return m
    }

    /// The network a classifier head runs on: this one, or with the head's fine-tuned tail.
    public func tuned(for head: ClassifierHead) throws -> EfficientNetLite {
        guard let tail = head.tail else { return self }
        return try withTail(values: tail)
    }

    /// ImageNet logits for pooled features ([N, 1280] → [N, 1000]).
    public func logits(features: [Float]) -> [Float] {
        let rows = features.count / Self.featureSize
        return Dense.apply(features, rows: rows, k: Self.featureSize, weights: fcWeights, cols: classes, bias: fcBias)
    }
}

/// Where a feature map comes from: the last block of the stride-8, -16 and -32 stages,
/// the 1280-channel head convolution (stride 32), and the input of the last stage (what
/// `trainableTail()` starts from).
public enum FeatureLevel: Int, Sendable, CaseIterable {
    case stride8, stride16, stride32, head, lastStageInput
    public var stride: Int { [8, 16, 32, 32, 32][rawValue] }
}

public struct FeatureMap: Sendable {
    public var level: FeatureLevel
    public var tensor: Tensor
}

public struct BackboneOutput: Sendable {
    /// [N, 1280], pooled over the head's output.
    public var features: [Float]
    /// In network order when asked for; empty otherwise.
    public var maps: [FeatureMap]

    public func map(_ level: FeatureLevel) -> Tensor? { maps.first { $0.level == level }?.tensor }
}
