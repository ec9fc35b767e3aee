import COneDNN

/// A fully connected layer on oneDNN's inner product: [N, 1, 1, in] → [N, 1, 1, out],
/// weights [out][in], with backward-data and backward-weights (with bias).
public final class LinearLayer: Layer {
    public let inputs: Int, outputs: Int
    public let weights: Parameter
    public let bias: Parameter
    public var threads = 1

    public init(inputs: Int, outputs: Int, weights: [Float]? = nil, bias: [Float]? = nil, seed: UInt64 = 1) {
        precondition(inputs > 0 && outputs > 0, "bad linear shape")
        self.inputs = inputs; self.outputs = outputs
        var rng = SplitMix64(seed: seed)
        let scale = (1 / Float(inputs)).squareRoot()
        let w = weights ?? (0..<(inputs * outputs)).map { _ in rng.normal() * scale }
        precondition(w.count == inputs * outputs && (bias?.count ?? outputs) == outputs, "weights do not match the shape")
        self.weights = Parameter(w)
        self.bias = Parameter(bias ?? [Float](repeating: 0, count: outputs))
    }

    public var parameters: [Parameter] { [weights, bias] }

    private var plans: [[Int]: Plan] = [:]   // (rows, threads)
    private var last: Plan?

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.count == x.n * inputs, "expected \(inputs) inputs per row")
        DNNL.useThreads(threads)
        let plan = plans[[x.n, threads]] ?? { let p = Plan(self, n: x.n); plans[[x.n, threads]] = p; return p }()
        last = plan
        plan.src.load(x.data); plan.weights.load(weights.value); plan.bias.load(bias.value)
        plan.forward.execute(plan.stream.handle, [arg(SL_ARG_SRC, plan.src), arg(SL_ARG_WEIGHTS, plan.weights),
                                                  arg(SL_ARG_BIAS, plan.bias), arg(SL_ARG_DST, plan.dst)])
        plan.stream.wait()
        return Tensor(n: x.n, h: 1, w: 1, c: outputs, data: plan.dst.values())
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let plan = last else { preconditionFailure("backward before forward") }
        precondition(dy.count == plan.n * outputs, "gradient does not match the output")
        DNNL.useThreads(threads)
        plan.diffDst.load(dy.data)
        plan.backwardWeights.execute(plan.stream.handle, [arg(SL_ARG_SRC, plan.src), arg(SL_ARG_DIFF_DST, plan.diffDst),
                                                          arg(SL_ARG_DIFF_WEIGHTS, plan.diffWeights), arg(SL_ARG_DIFF_BIAS, plan.diffBias)])
        plan.backwardData.execute(plan.stream.handle, [arg(SL_ARG_DIFF_DST, plan.diffDst), arg(SL_ARG_WEIGHTS, plan.weights),
                                                       arg(SL_ARG_DIFF_SRC, plan.diffSrc)])
        plan.stream.wait()
        weights.gradient = plan.diffWeights.values()
        bias.gradient = plan.diffBias.values()
        return Tensor(n: plan.n, h: 1, w: 1, c: inputs, data: plan.diffSrc.values())
    }

    private final class Plan {
        let n: Int
        let stream = DNNLStream()
        let forward: DNNLPrimitive, backwardData: DNNLPrimitive, backwardWeights: DNNLPrimitive
        let src: DNNLMemory, weights: DNNLMemory, bias: DNNLMemory, dst: DNNLMemory
        let diffDst: DNNLMemory, diffSrc: DNNLMemory, diffWeights: DNNLMemory, diffBias: DNNLMemory

        init(_ l: LinearLayer, n: Int) {
            self.n = n
            var srcD = DNNL.desc([n, l.inputs], dnnl_nc), wD = DNNL.desc([l.outputs, l.inputs], dnnl_oi)
            var bD = DNNL.desc([l.outputs], dnnl_a), dstD = DNNL.desc([n, l.outputs], dnnl_nc)
            let attr = DNNL.attributes(userScratchpad: false)
            defer { dnnl_primitive_attr_destroy(attr) }
            var f = dnnl_inner_product_desc_t()
            DNNL.check(dnnl_inner_product_forward_desc_init(&f, dnnl_forward_training, &srcD, &wD, &bD, &dstD), "inner_product_forward_desc_init")
            forward = DNNLPrimitive(op: &f, attr: attr)!
            var bd = dnnl_inner_product_desc_t()
            DNNL.check(dnnl_inner_product_backward_data_desc_init(&bd, &srcD, &wD, &dstD), "inner_product_backward_data_desc_init")
            backwardData = DNNLPrimitive(op: &bd, attr: attr, hint: forward)!
            var bw = dnnl_inner_product_desc_t()
            DNNL.check(dnnl_inner_product_backward_weights_desc_init(&bw, &srcD, &wD, &bD, &dstD), "inner_product_backward_weights_desc_init")
            backwardWeights = DNNLPrimitive(op: &bw, attr: attr, hint: forward)!
            src = DNNLMemory(srcD); weights = DNNLMemory(wD); bias = DNNLMemory(bD); dst = DNNLMemory(dstD)
            diffDst = DNNLMemory(dstD); diffSrc = DNNLMemory(srcD); diffWeights = DNNLMemory(wD); diffBias = DNNLMemory(bD)
        }
    }
}
