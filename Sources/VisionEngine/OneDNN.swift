import COneDNN

/// The few oneDNN objects the engine uses, owned by Swift classes that free them.
/// A failing oneDNN call is a programming error (shapes are fixed by the network, not
/// by clients) or memory exhaustion, so it stops with the call and status named.
enum DNNL {
    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
        precondition(status == dnnl_success, "oneDNN \(what()) failed (status \(status.rawValue))")
    }

    /// The CPU engine; oneDNN engines are thread-safe and shared.
    nonisolated(unsafe) static let engine: dnnl_engine_t = {
        var e: dnnl_engine_t?
        check(dnnl_engine_create(&e, dnnl_cpu, 0), "engine_create")
        return e!
    }()

    /// Sets the OpenMP thread count of the calling thread's parallel regions. oneDNN
    /// reads it both when it creates a primitive and when it runs one.
    static func useThreads(_ n: Int) { _ = sl_omp_set_threads(Int32(max(1, n))) }

    /// `dims` padded to oneDNN's fixed-size dims array.
    static func dims(_ v: [Int]) -> [dnnl_dim_t] {
        v.map { dnnl_dim_t($0) } + [dnnl_dim_t](repeating: 0, count: max(0, Int(DNNL_MAX_NDIMS) - v.count))
    }

    static func desc(_ shape: [Int], _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_tag(&md, Int32(shape.count), dims(shape), dnnl_f32, tag), "memory_desc_init \(shape)")
        return md
    }

    static func size(_ md: dnnl_memory_desc_t) -> Int {
        withUnsafePointer(to: md) { dnnl_memory_desc_get_size($0) }
    }

    static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        withUnsafePointer(to: a) { pa in withUnsafePointer(to: b) { pb in dnnl_memory_desc_equal(pa, pb) != 0 } }
    }

    /// `userScratchpad`: scratch memory comes from the caller, so a forward plan shares one
    /// buffer among its steps; otherwise oneDNN allocates it per primitive.
    static func attributes(postOps: [PostOp] = [], userScratchpad: Bool = true) -> dnnl_primitive_attr_t {
        var attr: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        if userScratchpad { check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode") }
        if !postOps.isEmpty {
            var ops: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&ops), "post_ops_create")
            for op in postOps {
                switch op {
                case .relu6: check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_clip, 0, 6), "append_eltwise")
                case .sum: check(dnnl_post_ops_append_sum(ops, 1), "append_sum")
                }
            }
            check(dnnl_primitive_attr_set_post_ops(attr, ops), "set_post_ops")
            dnnl_post_ops_destroy(ops)
        }
        return attr!
    }

    enum PostOp { case relu6, sum }
}

/// 64-byte-aligned memory owned by Swift.
final class AlignedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let bytes: Int

    init(bytes: Int) {
        self.bytes = max(bytes, 64)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: self.bytes, alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: self.bytes)
    }

    convenience init(copying values: [Float]) {
        self.init(bytes: values.count * 4)
        values.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    var floats: UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }

    deinit { pointer.deallocate() }
}

/// A oneDNN memory object over a buffer it does not own (the buffer is kept alive here).
final class DNNLMemory: @unchecked Sendable {
    let handle: dnnl_memory_t
    let desc: dnnl_memory_desc_t
    private(set) var buffer: AlignedBuffer?

    init(_ desc: dnnl_memory_desc_t, buffer: AlignedBuffer?) {
        precondition(buffer.map { $0.bytes >= DNNL.size(desc) } ?? true, "buffer smaller than its memory descriptor")
        var m: dnnl_memory_t?
        var d = desc
        DNNL.check(dnnl_memory_create(&m, &d, DNNL.engine, buffer?.pointer), "memory_create")
        handle = m!
        self.desc = desc
        self.buffer = buffer
    }

    /// A memory with its own buffer.
    convenience init(_ desc: dnnl_memory_desc_t) {
        self.init(desc, buffer: AlignedBuffer(bytes: DNNL.size(desc)))
    }

    /// Copies plain values in (the memory's layout must be plain).
    func load(_ values: [Float]) {
        precondition(values.count * 4 <= buffer!.bytes, "values larger than the memory")
        values.withUnsafeBytes { buffer!.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// The plain values.
    func values() -> [Float] {
        Array(UnsafeBufferPointer(start: buffer!.floats, count: DNNL.size(desc) / 4))
    }

    /// Points the memory at caller-owned data for one execution.
    func point(at data: UnsafeMutableRawPointer?) {
        DNNL.check(dnnl_memory_set_data_handle(handle, data), "memory_set_data_handle")
    }

    deinit { dnnl_memory_destroy(handle) }
}

/// A primitive and its descriptor.
final class DNNLPrimitive: @unchecked Sendable {
    let descriptor: dnnl_primitive_desc_t
    let handle: dnnl_primitive_t

    /// Creates the primitive for an operation descriptor (`op` points at a
    /// `dnnl_*_desc_t`); nil when oneDNN has no implementation for it.
    init?(op: UnsafeRawPointer, attr: dnnl_primitive_attr_t?, hint: DNNLPrimitive? = nil) {
        var pd: dnnl_primitive_desc_t?
        let status = dnnl_primitive_desc_create(&pd, op, attr, DNNL.engine, hint?.descriptor)
        guard status == dnnl_success, let pd else { return nil }
        var p: dnnl_primitive_t?
        DNNL.check(dnnl_primitive_create(&p, pd), "primitive_create")
        descriptor = pd
        handle = p!
    }

    /// A reorder between two layouts of the same tensor.
    init(reorder from: dnnl_memory_desc_t, to: dnnl_memory_desc_t, userScratchpad: Bool = true) {
        var pd: dnnl_primitive_desc_t?
        var a = from, b = to
        let attr = DNNL.attributes(userScratchpad: userScratchpad)
        defer { dnnl_primitive_attr_destroy(attr) }
        DNNL.check(dnnl_reorder_primitive_desc_create(&pd, &a, DNNL.engine, &b, DNNL.engine, attr), "reorder_primitive_desc_create")
        var p: dnnl_primitive_t?
        DNNL.check(dnnl_primitive_create(&p, pd), "primitive_create (reorder)")
        descriptor = pd!
        handle = p!
    }

    func desc(_ what: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(descriptor, what, index).pointee
    }

    var scratchBytes: Int { DNNL.size(desc(dnnl_query_scratchpad_md)) }

    /// The implementation oneDNN picked, e.g. "brgconv:avx512_core" (for benchmarks).
    var implementation: String {
        var s: UnsafePointer<CChar>?
        _ = dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &s)
        return s.map { String(cString: $0) } ?? "?"
    }

    func execute(_ stream: dnnl_stream_t, _ args: [dnnl_exec_arg_t]) {
        DNNL.check(dnnl_primitive_execute(handle, stream, Int32(args.count), args), "primitive_execute (\(implementation))")
    }

    deinit {
        dnnl_primitive_destroy(handle)
        dnnl_primitive_desc_destroy(descriptor)
    }
}

/// A tensor in a plain layout the caller reads and writes, and in the layout a
/// primitive wants; the same memory when the two agree.
final class StagedMemory: @unchecked Sendable {
    let user: DNNLMemory
    let inner: DNNLMemory
    private let into: DNNLPrimitive?, back: DNNLPrimitive?

    init(user: DNNLMemory, inner desc: dnnl_memory_desc_t) {
        self.user = user
        if DNNL.equal(user.desc, desc) {
            inner = user; into = nil; back = nil
        } else {
            inner = DNNLMemory(desc)
            into = DNNLPrimitive(reorder: user.desc, to: desc, userScratchpad: false)
            back = DNNLPrimitive(reorder: desc, to: user.desc, userScratchpad: false)
        }
    }

    func toInner(_ stream: dnnl_stream_t) { into?.execute(stream, [arg(SL_ARG_FROM, user), arg(SL_ARG_TO, inner)]) }
    func toUser(_ stream: dnnl_stream_t) { back?.execute(stream, [arg(SL_ARG_FROM, inner), arg(SL_ARG_TO, user)]) }
}

/// A stream for one thread of execution at a time.
final class DNNLStream: @unchecked Sendable {
    let handle: dnnl_stream_t
    init() {
        var s: dnnl_stream_t?
        DNNL.check(dnnl_stream_create(&s, DNNL.engine, UInt32(dnnl_stream_default_flags.rawValue)), "stream_create")
        handle = s!
    }
    func wait() { DNNL.check(dnnl_stream_wait(handle), "stream_wait") }
    deinit { dnnl_stream_destroy(handle) }
}

func arg(_ index: Int32, _ memory: DNNLMemory) -> dnnl_exec_arg_t {
    dnnl_exec_arg_t(arg: index, memory: memory.handle)
}
