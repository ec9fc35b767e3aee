import COneDNN
import Foundation

/// EfficientNet-Lite's forward pass compiled for one input shape, batch and thread
/// count: every convolution a oneDNN primitive (BatchNorm folded, bias, ReLU6 and the
/// residual add fused), activations in the layouts oneDNN picks, reorders only at the
/// ends. A plan owns its buffers and stream, so one caller runs it at a time.
final class ForwardPlan: @unchecked Sendable {
    struct Key: Hashable, Sendable {
        var n: Int, h: Int, w: Int, threads: Int
        /// The feature maps to copy out, in `FeatureLevel` order; each costs a reorder.
        var maps: [FeatureLevel]

        init(n: Int, h: Int, w: Int, threads: Int, maps: [FeatureLevel]) {
            self.n = n; self.h = h; self.w = w; self.threads = threads
            self.maps = Array(Set(maps)).sorted { $0.rawValue < $1.rawValue }
        }

        init(n: Int, h: Int, w: Int, threads: Int, featureMaps: Bool) {
            self.init(n: n, h: h, w: w, threads: threads, maps: featureMaps ? FeatureLevel.allCases : [])
        }
    }

    let key: Key
    private let stream = DNNLStream()
    private var steps: [(primitive: DNNLPrimitive, args: [dnnl_exec_arg_t])] = []
    private let input: DNNLMemory
    private let pooled: DNNLMemory
    private let taps: [(level: FeatureLevel, memory: DNNLMemory, h: Int, w: Int, c: Int)]
    /// Memories the steps' arguments point at, kept alive with the plan.
    private var memories: [DNNLMemory] = []
    /// Implementation names, for benchmarks and tests.
    private(set) var implementations: [String] = []

    /// Buffers shared by tensors whose lifetimes do not overlap: the block input and
    /// output ping-pong between two, expansions and depthwise outputs have one each.
    private enum Role: Int, CaseIterable { case mainA, mainB, expanded, depthwise, pool }

    /// A tensor before buffers exist: its role and layout.
    private struct Slot { var role: Role; var desc: dnnl_memory_desc_t }

    init(network net: EfficientNetLite, key: Key) {
        self.key = key
        DNNL.useThreads(key.threads)
        let weights = net.plans.weights
        var slots: [Slot] = []
        var pending: [(DNNLPrimitive, [(Int32, Int)])] = []   // slot indices
        func slot(_ role: Role, _ desc: dnnl_memory_desc_t) -> Int { slots.append(Slot(role: role, desc: desc)); return slots.count - 1 }

        let n = key.n
        let input = DNNLMemory(DNNL.desc([n, 3, key.h, key.w], dnnl_nhwc), buffer: nil)
        var taps: [(level: FeatureLevel, memory: DNNLMemory, h: Int, w: Int, c: Int)] = []
        // Steps refer to memories by slot; -1 is the caller's input, -2 and below are fixed memories.
        var fixed: [DNNLMemory] = [input]
        func fixedSlot(_ m: DNNLMemory) -> Int { fixed.append(m); return -fixed.count }

        var weightArgs: [Int: (DNNLMemory, DNNLMemory)] = [:]   // step index → (weights, bias)

        /// Appends one convolution reading `src` (a slot); returns the slot it writes.
        func conv(_ c: EfficientNetLite.Conv, src: Int, h: Int, w: Int, stride: Int, into role: Role, relu6: Bool,
                  accumulateInto accumulate: Int? = nil) -> (slot: Int, h: Int, w: Int) {
            let ph = SamePadding(input: h, kernel: c.k, stride: stride), pw = SamePadding(input: w, kernel: c.k, stride: stride)
            var srcDesc = src == -1 ? DNNL.desc([n, c.cin, h, w], dnnl_format_tag_any) : slots[src].desc
            var wDesc = c.depthwise ? DNNL.desc([c.groups, 1, 1, c.k, c.k], dnnl_format_tag_any)
                                    : DNNL.desc([c.cout, c.cin, c.k, c.k], dnnl_format_tag_any)
            var bDesc = DNNL.desc([c.cout], dnnl_a)
            var dstDesc = accumulate.map { slots[$0].desc } ?? DNNL.desc([n, c.cout, ph.output, pw.output], dnnl_format_tag_any)
            var op = dnnl_convolution_desc_t()
            DNNL.check(dnnl_convolution_forward_desc_init(&op, dnnl_forward_inference, dnnl_convolution_direct,
                                                          &srcDesc, &wDesc, &bDesc, &dstDesc, DNNL.dims([stride, stride]),
                                                          DNNL.dims([ph.before, pw.before]), DNNL.dims([ph.after, pw.after])),
                       "convolution_forward_desc_init")
            var post: [DNNL.PostOp] = []
            if accumulate != nil { post.append(.sum) }
            if relu6 { post.append(.relu6) }
            let attr = DNNL.attributes(postOps: post)
            defer { dnnl_primitive_attr_destroy(attr) }
            guard let p = DNNLPrimitive(op: &op, attr: attr) else { preconditionFailure("oneDNN has no convolution for \(c.cin)→\(c.cout) k\(c.k)") }
            var source = src
            if src == -1 {
                // The caller's NHWC input, reordered if the stem wants another layout.
                let wanted = p.desc(dnnl_query_src_md)
                if !DNNL.equal(wanted, input.desc) {
                    let s = slot(.expanded, wanted)
                    pending.append((DNNLPrimitive(reorder: input.desc, to: wanted), [(SL_ARG_FROM, -1), (SL_ARG_TO, s)]))
                    source = s
                }
            }
            let out = accumulate ?? slot(role, p.desc(dnnl_query_dst_md))
            weightArgs[pending.count] = weights.prepared(c, as: p.desc(dnnl_query_weights_md))
            pending.append((p, [(SL_ARG_SRC, source), (SL_ARG_DST, out)]))
            return (out, ph.output, pw.output)
        }

        var x = conv(net.stem, src: -1, h: key.h, w: key.w, stride: 2, into: .mainA, relu6: true)
        var main = Role.mainA
        for (i, b) in net.blocks.enumerated() {
            var y = x
            if let e = b.expand { y = conv(e, src: x.slot, h: x.h, w: x.w, stride: 1, into: .expanded, relu6: true) }
            y = conv(b.depthwise, src: y.slot, h: y.h, w: y.w, stride: b.stride, into: .depthwise, relu6: true)
            if b.residual {
                // The projection adds onto the block input in place.
                x = conv(b.project, src: y.slot, h: y.h, w: y.w, stride: 1, into: main, relu6: false, accumulateInto: x.slot)
            } else {
                main = main == .mainA ? .mainB : .mainA
                x = conv(b.project, src: y.slot, h: y.h, w: y.w, stride: 1, into: main, relu6: false)
            }
            let lastOfStage = i + 1 == net.blocks.count || net.blocks[i + 1].stage != b.stage
            let last = net.blocks.last!.stage
            if lastOfStage, let level = [2: FeatureLevel.stride8, 4: .stride16, last - 1: .lastStageInput, last: .stride32][b.stage],
               key.maps.contains(level) {
                let c = b.project.cout
                let tap = DNNLMemory(DNNL.desc([n, c, x.h, x.w], dnnl_nhwc))
                pending.append((DNNLPrimitive(reorder: slots[x.slot].desc, to: tap.desc), [(SL_ARG_FROM, x.slot), (SL_ARG_TO, fixedSlot(tap))]))
                taps.append((level, tap, x.h, x.w, c))
            }
        }
        let head = conv(net.head, src: x.slot, h: x.h, w: x.w, stride: 1, into: .expanded, relu6: true)
        if key.maps.contains(.head) {
            let tap = DNNLMemory(DNNL.desc([n, net.head.cout, head.h, head.w], dnnl_nhwc))
            pending.append((DNNLPrimitive(reorder: slots[head.slot].desc, to: tap.desc), [(SL_ARG_FROM, head.slot), (SL_ARG_TO, fixedSlot(tap))]))
            taps.append((.head, tap, head.h, head.w, net.head.cout))
        }

        // Global average pooling, then the pooled vector as plain [N, C].
        let c = net.head.cout
        var poolSrc = slots[head.slot].desc
        var poolDst = DNNL.desc([n, c, 1, 1], dnnl_format_tag_any)
        var pool = dnnl_pooling_desc_t()
        DNNL.check(dnnl_pooling_forward_desc_init(&pool, dnnl_forward_inference, dnnl_pooling_avg_exclude_padding, &poolSrc, &poolDst,
                                                  DNNL.dims([1, 1]), DNNL.dims([head.h, head.w]), DNNL.dims([0, 0]), DNNL.dims([0, 0])),
                   "pooling_forward_desc_init")
        let poolAttr = DNNL.attributes()
        defer { dnnl_primitive_attr_destroy(poolAttr) }
        guard let poolPrimitive = DNNLPrimitive(op: &pool, attr: poolAttr) else { preconditionFailure("oneDNN has no average pooling") }
        let pooledSlot = slot(.pool, poolPrimitive.desc(dnnl_query_dst_md))
        pending.append((poolPrimitive, [(SL_ARG_SRC, head.slot), (SL_ARG_DST, pooledSlot)]))
        let pooled = DNNLMemory(DNNL.desc([n, c, 1, 1], dnnl_nchw))
        let pooledFixed = fixedSlot(pooled)
        pending.append((DNNLPrimitive(reorder: slots[pooledSlot].desc, to: pooled.desc), [(SL_ARG_FROM, pooledSlot), (SL_ARG_TO, pooledFixed)]))

        self.input = input
        self.pooled = pooled
        self.taps = taps
        // Buffers: each role as large as its largest tensor; one scratchpad for all steps.
        var roleBytes = [Int](repeating: 0, count: Role.allCases.count)
        for s in slots { roleBytes[s.role.rawValue] = max(roleBytes[s.role.rawValue], DNNL.size(s.desc)) }
        let buffers = roleBytes.map { AlignedBuffer(bytes: $0) }
        let scratch = AlignedBuffer(bytes: pending.map(\.0.scratchBytes).max() ?? 0)
        let slotMemory = slots.map { DNNLMemory($0.desc, buffer: buffers[$0.role.rawValue]) }
        memories = slotMemory + fixed
        for (index, (p, slotArgs)) in pending.enumerated() {
            var args = slotArgs.map { a, s in arg(a, s >= 0 ? slotMemory[s] : fixed[-s - 1]) }
            if let (w, b) = weightArgs[index] { args += [arg(SL_ARG_WEIGHTS, w), arg(SL_ARG_BIAS, b)]; memories += [w, b] }
            if p.scratchBytes > 0 {
                let m = DNNLMemory(p.desc(dnnl_query_scratchpad_md), buffer: scratch)
                memories.append(m)
                args.append(arg(SL_ARG_SCRATCHPAD, m))
            }
            steps.append((p, args))
            implementations.append(p.implementation)
        }
    }

    /// Bytes of activation, scratch and output buffers this plan holds.
    var bytes: Int {
        var seen = Set<ObjectIdentifier>(), total = 0
        for m in memories { if let b = m.buffer, seen.insert(ObjectIdentifier(b)).inserted { total += b.bytes } }
        return total
    }

    func run(_ x: Tensor) -> BackboneOutput {
        precondition(x.n == key.n && x.h == key.h && x.w == key.w && x.c == 3, "input does not match the plan")
        DNNL.useThreads(key.threads)
        x.data.withUnsafeBufferPointer { data in
            input.point(at: UnsafeMutableRawPointer(mutating: data.baseAddress!))
            for s in steps { s.primitive.execute(stream.handle, s.args) }
            stream.wait()
            input.point(at: nil)
        }
        let c = EfficientNetLite.featureSize
        let features = Array(UnsafeBufferPointer(start: pooled.buffer!.floats, count: key.n * c))
        let maps = taps.map { t in
            FeatureMap(level: t.level, tensor: Tensor(n: key.n, h: t.h, w: t.w, c: t.c,
                                                       data: Array(UnsafeBufferPointer(start: t.memory.buffer!.floats, count: key.n * t.h * t.w * t.c))))
        }
        return BackboneOutput(features: features, maps: maps)
    }
}

/// A network's weights in the layouts its primitives asked for, reordered once per
/// layout and shared by every plan.
final class PreparedWeights: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [Int: [(desc: dnnl_memory_desc_t, weights: DNNLMemory, bias: DNNLMemory)]] = [:]

    func prepared(_ c: EfficientNetLite.Conv, as desc: dnnl_memory_desc_t) -> (DNNLMemory, DNNLMemory) {
        lock.lock(); defer { lock.unlock() }
        if let hit = entries[c.id]?.first(where: { DNNL.equal($0.desc, desc) }) { return (hit.weights, hit.bias) }
        let plain = c.depthwise ? DNNL.desc([c.groups, 1, 1, c.k, c.k], dnnl_goihw) : DNNL.desc([c.cout, c.cin, c.k, c.k], dnnl_oihw)
        let user = DNNLMemory(plain, buffer: AlignedBuffer(copying: c.weights))
        let weights = DNNLMemory(desc)
        let stream = DNNLStream()
        DNNLPrimitive(reorder: plain, to: desc, userScratchpad: false).execute(stream.handle, [arg(SL_ARG_FROM, user), arg(SL_ARG_TO, weights)])
        stream.wait()
        let bias = DNNLMemory(DNNL.desc([c.cout], dnnl_a), buffer: AlignedBuffer(copying: c.bias))
        entries[c.id, default: []].append((desc, weights, bias))
        return (weights, bias)
    }
}

/// Compiled plans by key, each lent to one caller at a time; a few idle plans per key
/// are kept, and the least recently used keys are dropped beyond a budget.
final class ForwardPlans: @unchecked Sendable {
    let weights = PreparedWeights()
    private let lock = NSLock()
    private var idle: [ForwardPlan.Key: [ForwardPlan]] = [:]
    private var recent: [ForwardPlan.Key] = []
    static let maxKeys = 8, maxIdlePerKey = 4

    func withPlan<T>(_ key: ForwardPlan.Key, build: () -> ForwardPlan, _ body: (ForwardPlan) -> T) -> T {
        let plan = lock.withLock { idle[key]?.popLast() } ?? build()
        defer {
            lock.withLock {
                recent.removeAll { $0 == key }
                recent.append(key)
                if idle[key, default: []].count < Self.maxIdlePerKey { idle[key, default: []].append(plan) }
                while recent.count > Self.maxKeys { idle[recent.removeFirst()] = nil }
            }
        }
        return body(plan)
    }

    /// Implementation names of a plan for `key` (built if needed).
    func implementations(_ key: ForwardPlan.Key, build: () -> ForwardPlan) -> [String] {
        withPlan(key, build: build) { $0.implementations }
    }
}
