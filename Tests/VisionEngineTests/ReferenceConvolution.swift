@testable import VisionEngine

/// A direct SAME convolution written from the definition (Double accumulation), the
/// independent check of oneDNN's results. Weights [cout][cin/groups][k][k].
enum ReferenceConvolution {
    static func apply(_ x: Tensor, _ w: [Float], _ b: [Float], k: Int, stride s: Int, cout: Int, groups: Int) -> Tensor {
        let ph = SamePadding(input: x.h, kernel: k, stride: s), pw = SamePadding(input: x.w, kernel: k, stride: s)
        var y = Tensor(n: x.n, h: ph.output, w: pw.output, c: cout)
        let cinG = x.c / groups, coutG = cout / groups
        for n in 0..<x.n { for oy in 0..<ph.output { for ox in 0..<pw.output { for o in 0..<cout {
            var acc = Double(b[o])
            let g = o / coutG
            for i in 0..<cinG { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s + ky - ph.before, ix = ox * s + kx - pw.before
                guard iy >= 0, iy < x.h, ix >= 0, ix < x.w else { continue }
                acc += Double(x.data[((n * x.h + iy) * x.w + ix) * x.c + g * cinG + i]) * Double(w[((o * cinG + i) * k + ky) * k + kx])
            } } }
            y.data[((n * ph.output + oy) * pw.output + ox) * cout + o] = Float(acc)
        } } } }
        return y
    }
}
