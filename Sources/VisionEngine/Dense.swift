import COpenBLAS

/// Fully connected layers (ImageNet logits, classifier heads) as one SGEMM.
enum Dense {
    /// `rows × k` times the transpose of `cols × k`, plus bias.
    static func apply(_ x: [Float], rows: Int, k: Int, weights: [Float], cols: Int, bias: [Float]) -> [Float] {
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
