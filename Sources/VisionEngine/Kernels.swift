import COpenBLAS

/// The network's layer kinds as tight loops (NHWC). Weights are in the layouts the
/// loops read contiguously: full convolution `[kh][kw][cin][cout]`, depthwise
/// `[kh][kw][c]`, pointwise `[cin][cout]`. Biases are BatchNorm folded in.
enum Kernels {
    @inline(__always) static func relu6(_ x: Float) -> Float { min(max(x, 0), 6) }

    /// Full convolution with TF-SAME padding (used by the stem: 3×3, stride 2, 3→32).
    static func conv(_ x: Tensor, weights: [Float], bias: [Float], k: Int, stride: Int, cout: Int, relu6 apply: Bool) -> Tensor {
        let ph = SamePadding(input: x.h, kernel: k, stride: stride), pw = SamePadding(input: x.w, kernel: k, stride: stride)
        var y = Tensor(n: x.n, h: ph.output, w: pw.output, c: cout, data: uninitialised(x.n * ph.output * pw.output * cout))
        let cin = x.c
        x.data.withUnsafeBufferPointer { xin in
            weights.withUnsafeBufferPointer { wt in
                bias.withUnsafeBufferPointer { b in
                    y.data.withUnsafeMutableBufferPointer { out in
                        let xp = xin.baseAddress!, wp = wt.baseAddress!
                        for n in 0..<x.n {
                            for oy in 0..<ph.output {
                                let y0 = oy * stride - ph.before
                                for ox in 0..<pw.output {
                                    let x0 = ox * stride - pw.before
                                    let acc = out.baseAddress! + ((n * ph.output + oy) * pw.output + ox) * cout
                                    for co in 0..<cout { acc[co] = b[co] }
                                    for ky in max(0, -y0)..<min(k, x.h - y0) {
                                        for kx in max(0, -x0)..<min(k, x.w - x0) {
                                            let src = xp + ((n * x.h + y0 + ky) * x.w + x0 + kx) * cin
                                            let wbase = wp + (ky * k + kx) * cin * cout
                                            for ci in 0..<cin {
                                                let v = src[ci]
                                                let wrow = wbase + ci * cout
                                                for co in 0..<cout { acc[co] += v * wrow[co] }
                                            }
                                        }
                                    }
                                    if apply { for co in 0..<cout { acc[co] = relu6(acc[co]) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Depthwise k×k convolution with TF-SAME padding, then bias and ReLU6. Channels are
    /// innermost, so each tap is a contiguous multiply-add the compiler vectorises (an
    /// explicit SIMD8 version measured 5× slower here).
    static func depthwise(_ x: Tensor, weights: [Float], bias: [Float], k: Int, stride: Int) -> Tensor {
        let ph = SamePadding(input: x.h, kernel: k, stride: stride), pw = SamePadding(input: x.w, kernel: k, stride: stride)
        var y = Tensor(n: x.n, h: ph.output, w: pw.output, c: x.c, data: uninitialised(x.n * ph.output * pw.output * x.c))
        let c = x.c
        x.data.withUnsafeBufferPointer { xin in
            weights.withUnsafeBufferPointer { wt in
                bias.withUnsafeBufferPointer { b in
                    y.data.withUnsafeMutableBufferPointer { out in
                        for n in 0..<x.n {
                            for oy in 0..<ph.output {
                                for ox in 0..<pw.output {
                                    let dst = ((n * ph.output + oy) * pw.output + ox) * c
                                    let o = out.baseAddress! + dst
                                    for ch in 0..<c { o[ch] = b[ch] }
                                    for ky in 0..<k {
                                        let iy = oy * stride - ph.before + ky
                                        if iy < 0 || iy >= x.h { continue }
                                        for kx in 0..<k {
                                            let ix = ox * stride - pw.before + kx
                                            if ix < 0 || ix >= x.w { continue }
                                            let src = xin.baseAddress! + ((n * x.h + iy) * x.w + ix) * c
                                            let wrow = wt.baseAddress! + (ky * k + kx) * c
                                            for ch in 0..<c { o[ch] += src[ch] * wrow[ch] }
                                        }
                                    }
                                    for ch in 0..<c { o[ch] = relu6(o[ch]) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// An array whose every element the caller overwrites (skips the zero fill).
    static func uninitialised(_ count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { _, initialised in initialised = count }
    }

    /// 1×1 convolution as one SGEMM: [N·H·W, cin] × [cin, cout], then bias, optional
    /// ReLU6 and an optional residual added afterwards.
    static func pointwise(_ x: Tensor, weights: [Float], bias: [Float], cout: Int, relu6 apply: Bool, residual: Tensor? = nil) -> Tensor {
        let m = x.n * x.h * x.w
        var y = Tensor(n: x.n, h: x.h, w: x.w, c: cout, data: uninitialised(m * cout))
        x.data.withUnsafeBufferPointer { a in
            weights.withUnsafeBufferPointer { bw in
                y.data.withUnsafeMutableBufferPointer { out in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(cout), Int32(x.c),
                                1, a.baseAddress, Int32(x.c), bw.baseAddress, Int32(cout), 0, out.baseAddress, Int32(cout))
                    bias.withUnsafeBufferPointer { b in
                        for row in 0..<m {
                            let o = out.baseAddress! + row * cout
                            if apply { for co in 0..<cout { o[co] = relu6(o[co] + b[co]) } }
                            else { for co in 0..<cout { o[co] += b[co] } }
                        }
                    }
                    if let residual {
                        residual.data.withUnsafeBufferPointer { r in
                            for i in 0..<out.count { out[i] += r[i] }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Mean over H and W: [N, C].
    static func globalAveragePool(_ x: Tensor) -> [Float] {
        var out = [Float](repeating: 0, count: x.n * x.c)
        let plane = x.h * x.w
        x.data.withUnsafeBufferPointer { xin in
            for n in 0..<x.n {
                for p in 0..<plane {
                    let src = (n * plane + p) * x.c
                    for ch in 0..<x.c { out[n * x.c + ch] += xin[src + ch] }
                }
            }
        }
        let scale = 1 / Float(plane)
        for i in 0..<out.count { out[i] *= scale }
        return out
    }

    /// `rows × k` times the transpose of `cols × k`, plus bias: a fully connected layer.
    static func dense(_ x: [Float], rows: Int, k: Int, weights: [Float], cols: Int, bias: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows { for c in 0..<cols { out[r * cols + c] = bias[c] } }
        x.withUnsafeBufferPointer { a in
            weights.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(k),
                                1, a.baseAddress, Int32(k), w.baseAddress, Int32(k), 1, o.baseAddress, Int32(cols))
                }
            }
        }
        return out
    }

    static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}
