import COneDNN

/// Global average pooling on oneDNN: [N, H, W, C] → [N, 1, 1, C], and its backward
/// (the gradient spread evenly over the window).
public final class GlobalAveragePoolLayer: Layer {
    public var threads = 1
    public init() {}
    public var parameters: [Parameter] { [] }

    private struct Shape: Hashable { var n: Int, h: Int, w: Int, c: Int, threads: Int }
    private var plans: [Shape: Plan] = [:]
    private var last: Plan?

    public func forward(_ x: Tensor) -> Tensor {
        let s = Shape(n: x.n, h: x.h, w: x.w, c: x.c, threads: threads)
        DNNL.useThreads(threads)
        let plan = plans[s] ?? { let p = Plan(s.n, s.h, s.w, s.c); plans[s] = p; return p }()
        last = plan
        plan.src.load(x.data)
        plan.forward.execute(plan.stream.handle, [arg(SL_ARG_SRC, plan.src), arg(SL_ARG_DST, plan.dst)])
        plan.stream.wait()
        return Tensor(n: x.n, h: 1, w: 1, c: x.c, data: plan.dst.values())
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let plan = last else { preconditionFailure("backward before forward") }
        precondition(dy.n == plan.n && dy.count == plan.n * plan.c, "gradient does not match the output")
        DNNL.useThreads(threads)
        plan.diffDst.load(dy.data)
        plan.backward.execute(plan.stream.handle, [arg(SL_ARG_DIFF_DST, plan.diffDst), arg(SL_ARG_DIFF_SRC, plan.diffSrc)])
        plan.stream.wait()
        return Tensor(n: plan.n, h: plan.h, w: plan.w, c: plan.c, data: plan.diffSrc.values())
    }

    private final class Plan {
        let n: Int, h: Int, w: Int, c: Int
        let stream = DNNLStream()
        let forward: DNNLPrimitive, backward: DNNLPrimitive
        let src: DNNLMemory, dst: DNNLMemory, diffDst: DNNLMemory, diffSrc: DNNLMemory

        init(_ n: Int, _ h: Int, _ w: Int, _ c: Int) {
            self.n = n; self.h = h; self.w = w; self.c = c
            var srcD = DNNL.desc([n, c, h, w], dnnl_nhwc), dstD = DNNL.desc([n, c, 1, 1], dnnl_nhwc)
            let attr = DNNL.attributes(userScratchpad: false)
            defer { dnnl_primitive_attr_destroy(attr) }
            let one = DNNL.dims([1, 1]), window = DNNL.dims([h, w]), zero = DNNL.dims([0, 0])
            var f = dnnl_pooling_desc_t()
            DNNL.check(dnnl_pooling_forward_desc_init(&f, dnnl_forward_training, dnnl_pooling_avg_exclude_padding, &srcD, &dstD, one, window, zero, zero),
                       "pooling_forward_desc_init")
            forward = DNNLPrimitive(op: &f, attr: attr)!
            var b = dnnl_pooling_desc_t()
            DNNL.check(dnnl_pooling_backward_desc_init(&b, dnnl_pooling_avg_exclude_padding, &srcD, &dstD, one, window, zero, zero),
                       "pooling_backward_desc_init")
            backward = DNNLPrimitive(op: &b, attr: attr, hint: forward)!
            src = DNNLMemory(srcD); dst = DNNLMemory(dstD); diffDst = DNNLMemory(dstD); diffSrc = DNNLMemory(srcD)
        }
    }
}
