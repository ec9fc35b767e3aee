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

    private struct Shape: Hashable { var n: Int, h: Int, w: Int }

    public func outputShape(h: Int, w: Int) -> (h: Int, w: Int) {
        (SamePadding(input: h, kernel: k, stride: stride).output, SamePadding(input: w, kernel: k, stride: stride).output)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.c == cin, "expected \(cin) channels, got \(x.c)")
        let plan = plans[Shape(n: x.n, h: x.h, w: x.w)] ?? makePlan(Shape(n: x.n, h: x.h, w: x.w))
        last = plan
        DNNL.useThreads(threads)
        plan.src.load(x.data)
        plan.weights.load(weights.value)
        plan.bias.load(bias.value)
        plan.forward.execute(plan.stream.handle, [arg(SL_ARG_SRC, plan.src), arg(SL_ARG_WEIGHTS, plan.weights),
                                                  arg(SL_ARG_BIAS, plan.bias), arg(SL_ARG_DST, plan.dst)])
        plan.stream.wait()
        return Tensor(n: x.n, h: plan.oh, w: plan.ow, c: cout, data: plan.dst.values())
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let plan = last else { preconditionFailure("backward before forward") }
        precondition(dy.n == plan.n && dy.h == plan.oh && dy.w == plan.ow && dy.c == cout, "gradient does not match the output")
        DNNL.useThreads(threads)
        plan.diffDst.load(dy.data)
        if let clip = plan.clipBackward {
            // Through ReLU6: the gradient passes where the saved output is inside (0, 6).
            clip.execute(plan.stream.handle, [arg(SL_ARG_DST, plan.dst), arg(SL_ARG_DIFF_DST, plan.diffDst),
                                              arg(SL_ARG_DIFF_SRC, plan.diffPre)])
        }
        let g = relu6 ? plan.diffPre : plan.diffDst
        plan.backwardWeights.execute(plan.stream.handle, [arg(SL_ARG_SRC, plan.src), arg(SL_ARG_DIFF_DST, g),
                                                          arg(SL_ARG_DIFF_WEIGHTS, plan.diffWeights), arg(SL_ARG_DIFF_BIAS, plan.diffBias)])
        plan.backwardData.execute(plan.stream.handle, [arg(SL_ARG_DIFF_DST, g), arg(SL_ARG_WEIGHTS, plan.weights),
                                                       arg(SL_ARG_DIFF_SRC, plan.diffSrc)])
        plan.stream.wait()
        weights.gradient = plan.diffWeights.values()
        bias.gradient = plan.diffBias.values()
        return Tensor(n: plan.n, h: plan.h, w: plan.w, c: cin, data: plan.diffSrc.values())
    }

    /// Primitives and buffers for one input shape.
    private final class Plan {
        let n: Int, h: Int, w: Int, oh: Int, ow: Int
        let stream = DNNLStream()
        let forward: DNNLPrimitive, backwardData: DNNLPrimitive, backwardWeights: DNNLPrimitive
        let clipBackward: DNNLPrimitive?
        let src: DNNLMemory, weights: DNNLMemory, bias: DNNLMemory, dst: DNNLMemory
        let diffDst: DNNLMemory, diffPre: DNNLMemory, diffSrc: DNNLMemory, diffWeights: DNNLMemory, diffBias: DNNLMemory

        init(_ l: ConvolutionLayer, n: Int, h: Int, w: Int) {
            self.n = n; self.h = h; self.w = w
            let ph = SamePadding(input: h, kernel: l.k, stride: l.stride), pw = SamePadding(input: w, kernel: l.k, stride: l.stride)
            oh = ph.output; ow = pw.output
            var srcD = DNNL.desc([n, l.cin, h, w], dnnl_nhwc)
            var wD = l.groups > 1 ? DNNL.desc([l.groups, l.cout / l.groups, l.cin / l.groups, l.k, l.k], dnnl_goihw)
                                  : DNNL.desc([l.cout, l.cin, l.k, l.k], dnnl_oihw)
            var bD = DNNL.desc([l.cout], dnnl_a)
            var dstD = DNNL.desc([n, l.cout, oh, ow], dnnl_nhwc)
            let strides = DNNL.dims([l.stride, l.stride])
            let padL = DNNL.dims([ph.before, pw.before]), padR = DNNL.dims([ph.after, pw.after])
            let attr = DNNL.attributes(postOps: l.relu6 ? [.relu6] : [], userScratchpad: false)
            let plain = DNNL.attributes(userScratchpad: false)
            defer { dnnl_primitive_attr_destroy(attr); dnnl_primitive_attr_destroy(plain) }

            var op = dnnl_convolution_desc_t()
            DNNL.check(dnnl_convolution_forward_desc_init(&op, dnnl_forward_training, dnnl_convolution_direct,
                                                          &srcD, &wD, &bD, &dstD, strides, padL, padR), "convolution_forward_desc_init")
            forward = DNNLPrimitive(op: &op, attr: attr)!
            // The backward passes are hinted by a forward without post-ops (their own attributes have none).
            let hint = DNNLPrimitive(op: &op, attr: plain)!
            var bd = dnnl_convolution_desc_t()
            DNNL.check(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &srcD, &wD, &dstD, strides, padL, padR),
                       "convolution_backward_data_desc_init")
            backwardData = DNNLPrimitive(op: &bd, attr: plain, hint: hint)!
            var bw = dnnl_convolution_desc_t()
            DNNL.check(dnnl_convolution_backward_weights_desc_init(&bw, dnnl_convolution_direct, &srcD, &wD, &bD, &dstD, strides, padL, padR),
                       "convolution_backward_weights_desc_init")
            backwardWeights = DNNLPrimitive(op: &bw, attr: plain, hint: hint)!
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
            src = DNNLMemory(srcD); weights = DNNLMemory(wD); bias = DNNLMemory(bD); dst = DNNLMemory(dstD)
            diffDst = DNNLMemory(dstD); diffPre = DNNLMemory(dstD); diffSrc = DNNLMemory(srcD)
            diffWeights = DNNLMemory(wD); diffBias = DNNLMemory(bD)
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
