import COneDNN
import Foundation

/// A trainable k×k convolution (TF-SAME padding, optional groups, bias, optional ReLU6
/// fused into the forward primitive) on oneDNN: forward, backward-data, backward-weights
/// with bias, and the clip backward from the saved output. Plain layouts (NHWC
/// activations, OIHW weights) so parameters and gradients are ordinary arrays.
public final class ConvolutionLayer: Layer {
    public let cin: Int, cout: Int, k: Int, stride: Int, groups: Int, relu6: Bool
    /// [cout][cin / groups][k][k]
    public let weights: Parameter
    public let bias: Parameter
    /// OpenMP threads for this layer's primitives.
    public var threads = 1
    /// False for a first layer on fixed features: backward then skips the input gradient
    /// (as costly as the forward pass) and returns an empty tensor.
    public var computesInputGradient = true

    public init(cin: Int, cout: Int, k: Int, stride: Int = 1, groups: Int = 1, relu6: Bool,
                weights: [Float]? = nil, bias: [Float]? = nil, seed: UInt64 = 1) {
        precondition(cin > 0 && cout > 0 && k > 0 && stride > 0 && groups > 0 && cin % groups == 0 && cout % groups == 0, "bad convolution shape")
        self.cin = cin; self.cout = cout; self.k = k; self.stride = stride; self.groups = groups; self.relu6 = relu6
        let count = cout * (cin / groups) * k * k
        var rng = SplitMix64(seed: seed)
        // He initialisation over the fan-in.
        let scale = (2 / Float((cin / groups) * k * k)).squareRoot()
        let w = weights ?? (0..<count).map { _ in rng.normal() * scale }
        precondition(w.count == count && (bias?.count ?? cout) == cout, "weights do not match the shape")
        self.weights = Parameter(w)
        self.bias = Parameter(bias ?? [Float](repeating: 0, count: cout))
    }

    public var parameters: [Parameter] { [weights, bias] }

    private var plans: [Shape: Plan] = [:]
    private var last: Plan?

    /// Primitives are built for a thread count, so it is part of the key.
    private struct Shape: Hashable { var n: Int, h: Int, w: Int, threads: Int }

    public func outputShape(h: Int, w: Int) -> (h: Int, w: Int) {
        (SamePadding(input: h, kernel: k, stride: stride).output, SamePadding(input: w, kernel: k, stride: stride).output)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.c == cin, "expected \(cin) channels, got \(x.c)")
        let shape = Shape(n: x.n, h: x.h, w: x.w, threads: threads)
        let plan = plans[shape] ?? makePlan(shape)
        last = plan
        DNNL.useThreads(threads)
        let st = plan.stream.handle
        plan.src.user.load(x.data)
        plan.weights.user.load(weights.value)
        plan.bias.load(bias.value)
        plan.src.toInner(st); plan.weights.toInner(st)
        plan.forward.execute(st, [arg(SL_ARG_SRC, plan.src.inner), arg(SL_ARG_WEIGHTS, plan.weights.inner),
                                  arg(SL_ARG_BIAS, plan.bias), arg(SL_ARG_DST, plan.dst.inner)])
        plan.dst.toUser(st)
        plan.stream.wait()
        return Tensor(n: x.n, h: plan.oh, w: plan.ow, c: cout, data: plan.dst.user.values())
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let plan = last else { preconditionFailure("backward before forward") }
        precondition(dy.n == plan.n && dy.h == plan.oh && dy.w == plan.ow && dy.c == cout, "gradient does not match the output")
        DNNL.useThreads(threads)
        let st = plan.stream.handle
        plan.diffOut.load(dy.data)
        if let clip = plan.clipBackward {
            // Through ReLU6: the gradient passes where the saved output is inside (0, 6).
            clip.execute(st, [arg(SL_ARG_DST, plan.dst.user), arg(SL_ARG_DIFF_DST, plan.diffOut),
                              arg(SL_ARG_DIFF_SRC, plan.diffPre)])
        }
        // Both backward passes read the gradient before the activation, each in its own layout.
        plan.diffDstForWeights.toInner(st)
        plan.srcForWeights.toInner(st)
        plan.backwardWeights.execute(st, [arg(SL_ARG_SRC, plan.srcForWeights.inner), arg(SL_ARG_DIFF_DST, plan.diffDstForWeights.inner),
                                          arg(SL_ARG_DIFF_WEIGHTS, plan.diffWeights.inner), arg(SL_ARG_DIFF_BIAS, plan.diffBias)])
        plan.diffWeights.toUser(st)
        if computesInputGradient {
            plan.diffDstForData.toInner(st)
            plan.weightsForData.toInner(st)
            plan.backwardData.execute(st, [arg(SL_ARG_DIFF_DST, plan.diffDstForData.inner), arg(SL_ARG_WEIGHTS, plan.weightsForData.inner),
                                           arg(SL_ARG_DIFF_SRC, plan.diffSrc.inner)])
            plan.diffSrc.toUser(st)
        }
        plan.stream.wait()
        weights.gradient = plan.diffWeights.user.values()
        bias.gradient = plan.diffBias.values()
        guard computesInputGradient else { return Tensor(n: plan.n, h: plan.h, w: plan.w, c: 0, data: []) }
        return Tensor(n: plan.n, h: plan.h, w: plan.w, c: cin, data: plan.diffSrc.user.values())
    }

    /// Primitives and buffers for one input shape. Every primitive works in the layouts
    /// oneDNN picks for it (plain layouts fall back to its slow reference code); the
    /// layer's arrays stay plain, with reorders between.
    private final class Plan {
        let n: Int, h: Int, w: Int, oh: Int, ow: Int
        let stream = DNNLStream()
        let forward: DNNLPrimitive, backwardData: DNNLPrimitive, backwardWeights: DNNLPrimitive
        let clipBackward: DNNLPrimitive?
        let src: StagedMemory, weights: StagedMemory, dst: StagedMemory, bias: DNNLMemory
        let diffOut: DNNLMemory, diffPre: DNNLMemory
        let srcForWeights: StagedMemory, diffDstForWeights: StagedMemory, diffWeights: StagedMemory, diffBias: DNNLMemory
        let diffDstForData: StagedMemory, weightsForData: StagedMemory, diffSrc: StagedMemory

        init(_ l: ConvolutionLayer, n: Int, h: Int, w: Int) {
            self.n = n; self.h = h; self.w = w
            let ph = SamePadding(input: h, kernel: l.k, stride: l.stride), pw = SamePadding(input: w, kernel: l.k, stride: l.stride)
            oh = ph.output; ow = pw.output
            let wShape = l.groups > 1 ? [l.groups, l.cout / l.groups, l.cin / l.groups, l.k, l.k] : [l.cout, l.cin, l.k, l.k]
            let plainSrc = DNNL.desc([n, l.cin, h, w], dnnl_nhwc), plainDst = DNNL.desc([n, l.cout, oh, ow], dnnl_nhwc)
            let plainW = DNNL.desc(wShape, l.groups > 1 ? dnnl_goihw : dnnl_oihw)
            var anySrc = DNNL.desc([n, l.cin, h, w], dnnl_format_tag_any), anyDst = DNNL.desc([n, l.cout, oh, ow], dnnl_format_tag_any)
            var anyW = DNNL.desc(wShape, dnnl_format_tag_any)
            var bD = DNNL.desc([l.cout], dnnl_a)
            let strides = DNNL.dims([l.stride, l.stride])
            let padL = DNNL.dims([ph.before, pw.before]), padR = DNNL.dims([ph.after, pw.after])
            let attr = DNNL.attributes(postOps: l.relu6 ? [.relu6] : [], userScratchpad: false)
            let plain = DNNL.attributes(userScratchpad: false)
            defer { dnnl_primitive_attr_destroy(attr); dnnl_primitive_attr_destroy(plain) }

            var op = dnnl_convolution_desc_t()
            DNNL.check(dnnl_convolution_forward_desc_init(&op, dnnl_forward_training, dnnl_convolution_direct,
                                                          &anySrc, &anyW, &bD, &anyDst, strides, padL, padR), "convolution_forward_desc_init")
            forward = DNNLPrimitive(op: &op, attr: attr)!
            // The backward passes are hinted by a forward without post-ops (their own attributes have none).
            let hint = DNNLPrimitive(op: &op, attr: plain)!
            var bd = dnnl_convolution_desc_t()
            DNNL.check(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &anySrc, &anyW, &anyDst, strides, padL, padR),
                       "convolution_backward_data_desc_init")
            backwardData = DNNLPrimitive(op: &bd, attr: plain, hint: hint)!
            var bw = dnnl_convolution_desc_t()
            DNNL.check(dnnl_convolution_backward_weights_desc_init(&bw, dnnl_convolution_direct, &anySrc, &anyW, &bD, &anyDst, strides, padL, padR),
                       "convolution_backward_weights_desc_init")
            backwardWeights = DNNLPrimitive(op: &bw, attr: plain, hint: hint)!
            var dstD = plainDst
            if l.relu6 {
                var ef = dnnl_eltwise_desc_t()
                DNNL.check(dnnl_eltwise_forward_desc_init(&ef, dnnl_forward_training, dnnl_eltwise_clip_v2_use_dst_for_bwd, &dstD, 0, 6),
                           "eltwise_forward_desc_init")
                let clipForward = DNNLPrimitive(op: &ef, attr: plain)!
                var eb = dnnl_eltwise_desc_t()
                DNNL.check(dnnl_eltwise_backward_desc_init(&eb, dnnl_eltwise_clip_v2_use_dst_for_bwd, &dstD, &dstD, 0, 6),
                           "eltwise_backward_desc_init")
                clipBackward = DNNLPrimitive(op: &eb, attr: plain, hint: clipForward)!
            } else {
                clipBackward = nil
            }
            src = StagedMemory(user: DNNLMemory(plainSrc), inner: forward.desc(dnnl_query_src_md))
            weights = StagedMemory(user: DNNLMemory(plainW), inner: forward.desc(dnnl_query_weights_md))
            dst = StagedMemory(user: DNNLMemory(plainDst), inner: forward.desc(dnnl_query_dst_md))
            bias = DNNLMemory(bD)
            diffOut = DNNLMemory(plainDst)
            diffPre = l.relu6 ? DNNLMemory(plainDst) : diffOut
            srcForWeights = StagedMemory(user: src.user, inner: backwardWeights.desc(dnnl_query_src_md))
            diffDstForWeights = StagedMemory(user: diffPre, inner: backwardWeights.desc(dnnl_query_diff_dst_md))
            diffWeights = StagedMemory(user: DNNLMemory(plainW), inner: backwardWeights.desc(dnnl_query_diff_weights_md))
            diffBias = DNNLMemory(bD)
            diffDstForData = StagedMemory(user: diffPre, inner: backwardData.desc(dnnl_query_diff_dst_md))
            weightsForData = StagedMemory(user: weights.user, inner: backwardData.desc(dnnl_query_weights_md))
            diffSrc = StagedMemory(user: DNNLMemory(plainSrc), inner: backwardData.desc(dnnl_query_diff_src_md))
        }
    }

    private func makePlan(_ s: Shape) -> Plan {
        DNNL.useThreads(threads)
        let p = Plan(self, n: s.n, h: s.h, w: s.w)
        plans[s] = p
        return p
    }
}

extension SplitMix64 {
    /// A standard normal sample (Box–Muller), for initial weights.
    mutating func normal() -> Float {
        let u = max(nextUnit(), 1e-12), v = nextUnit()
        return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }
}
