import Foundation
@testable import VisionEngine
import XCTest

/// Each layer against a naive implementation written from the definition.
final class KernelTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()
    func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float.random(in: -1...1, using: &rng) } }

    func testSamePaddingAtOddSizes() {
        // out = ceil(in/s); pad = max((out−1)·s + k − in, 0); floor half before.
        let cases: [(Int, Int, Int, Int, Int, Int)] = [
            (224, 3, 2, 112, 0, 1), (225, 3, 2, 113, 1, 1), (7, 5, 1, 7, 2, 2), (7, 3, 2, 4, 1, 1),
            (113, 5, 2, 57, 2, 2), (14, 5, 2, 7, 1, 2), (1, 3, 2, 1, 1, 1), (5, 1, 1, 5, 0, 0), (6, 3, 2, 3, 0, 1),
        ]
        for (input, k, s, out, before, after) in cases {
            let p = SamePadding(input: input, kernel: k, stride: s)
            XCTAssertEqual([p.output, p.before, p.after], [out, before, after], "in \(input) k \(k) s \(s)")
        }
    }

    /// Direct SAME convolution over an explicitly zero-padded input.
    func naiveConv(_ x: Tensor, _ w: [Float], _ b: [Float], k: Int, s: Int, cout: Int, groups: Bool) -> Tensor {
        let ph = SamePadding(input: x.h, kernel: k, stride: s), pw = SamePadding(input: x.w, kernel: k, stride: s)
        var y = Tensor(n: x.n, h: ph.output, w: pw.output, c: cout)
        func at(_ n: Int, _ yy: Int, _ xx: Int, _ c: Int) -> Float {
            let iy = yy - ph.before, ix = xx - pw.before
            return iy < 0 || iy >= x.h || ix < 0 || ix >= x.w ? 0 : x.data[((n * x.h + iy) * x.w + ix) * x.c + c]
        }
        for n in 0..<x.n { for oy in 0..<ph.output { for ox in 0..<pw.output { for o in 0..<cout {
            var acc = Double(b[o])
            for ky in 0..<k { for kx in 0..<k {
                if groups {
                    acc += Double(at(n, oy * s + ky, ox * s + kx, o)) * Double(w[(ky * k + kx) * cout + o])
                } else {
                    for i in 0..<x.c { acc += Double(at(n, oy * s + ky, ox * s + kx, i)) * Double(w[((ky * k + kx) * x.c + i) * cout + o]) }
                }
            } }
            y.data[((n * ph.output + oy) * pw.output + ox) * cout + o] = Float(acc)
        } } } }
        return y
    }

    func assertClose(_ a: [Float], _ b: [Float], _ tol: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        XCTAssertLessThan(worst, tol, file: file, line: line)
    }

    func testFullConvolutionMatchesNaive() {
        for (h, w, k, s) in [(9, 7, 3, 2), (8, 8, 3, 2), (5, 6, 3, 1)] {
            let x = Tensor(n: 2, h: h, w: w, c: 3, data: random(2 * h * w * 3))
            let wt = random(k * k * 3 * 8), b = random(8)
            let y = Kernels.conv(x, weights: wt, bias: b, k: k, stride: s, cout: 8, relu6: false)
            let ref = naiveConv(x, wt, b, k: k, s: s, cout: 8, groups: false)
            XCTAssertEqual([y.h, y.w], [ref.h, ref.w])
            assertClose(y.data, ref.data)
            let clipped = Kernels.conv(x, weights: wt.map { $0 * 9 }, bias: b, k: k, stride: s, cout: 8, relu6: true)
            XCTAssertTrue(clipped.data.allSatisfy { $0 >= 0 && $0 <= 6 })
        }
    }

    func testDepthwiseMatchesNaive() {
        for (h, w, k, s) in [(9, 9, 5, 2), (7, 10, 3, 1), (14, 14, 5, 1), (15, 13, 3, 2)] {
            let c = 6
            let x = Tensor(n: 1, h: h, w: w, c: c, data: random(h * w * c))
            let wt = random(k * k * c).map { $0 * 0.3 }, b = random(c).map { $0 * 0.1 }
            let y = Kernels.depthwise(x, weights: wt, bias: b, k: k, stride: s)
            let ref = naiveConv(x, wt, b, k: k, s: s, cout: c, groups: true)
            assertClose(y.data, ref.data.map { min(max($0, 0), 6) })
        }
    }

    func testPointwiseResidualPoolAndDense() {
        let x = Tensor(n: 2, h: 3, w: 5, c: 7, data: random(2 * 3 * 5 * 7))
        let wt = random(7 * 4), b = random(4)
        let r = Tensor(n: 2, h: 3, w: 5, c: 4, data: random(2 * 3 * 5 * 4))
        let y = Kernels.pointwise(x, weights: wt, bias: b, cout: 4, relu6: false, residual: r)
        var ref = [Float]()
        for p in 0..<(2 * 15) { for o in 0..<4 {
            var acc = b[o] + r.data[p * 4 + o]
            for i in 0..<7 { acc += x.data[p * 7 + i] * wt[i * 4 + o] }
            ref.append(acc)
        } }
        assertClose(y.data, ref)
        let pooled = Kernels.globalAveragePool(x)
        for n in 0..<2 { for c in 0..<7 {
            let mean = (0..<15).map { x.data[(n * 15 + $0) * 7 + c] }.reduce(0, +) / 15
            XCTAssertEqual(pooled[n * 7 + c], mean, accuracy: 1e-5)
        } }
        let fc = random(3 * 7), fb = random(3)
        let d = Kernels.dense(pooled, rows: 2, k: 7, weights: fc, cols: 3, bias: fb)
        for n in 0..<2 { for o in 0..<3 {
            let v = fb[o] + (0..<7).map { pooled[n * 7 + $0] * fc[o * 7 + $0] }.reduce(0, +)
            XCTAssertEqual(d[n * 3 + o], v, accuracy: 1e-5)
        } }
    }

    /// A conv followed by BatchNorm equals the folded conv the loader builds.
    func testBatchNormFolding() throws {
        let cout = 4, cin = 3, k = 3
        let w = random(cout * cin * k * k)   // PyTorch (cout, cin, k, k)
        let gamma = random(cout).map { $0 + 1.5 }, beta = random(cout), mean = random(cout), variance = random(cout).map { abs($0) + 0.1 }
        var t: [String: CheckpointTensor] = [
            "c.weight": .init(shape: [cout, cin, k, k], values: w),
            "bn.weight": .init(shape: [cout], values: gamma), "bn.bias": .init(shape: [cout], values: beta),
            "bn.running_mean": .init(shape: [cout], values: mean), "bn.running_var": .init(shape: [cout], values: variance),
        ]
        t["unused"] = nil
        let conv = try EfficientNetLite.foldedConv(t, "c", "bn", depthwise: false)
        let x = Tensor(n: 1, h: 6, w: 5, c: cin, data: random(6 * 5 * cin))
        let folded = Kernels.conv(x, weights: conv.weights, bias: conv.bias, k: k, stride: 1, cout: cout, relu6: false)
        // Unfolded: convolution with the raw weights, then BN.
        var raw = [Float](repeating: 0, count: k * k * cin * cout)
        for o in 0..<cout { for i in 0..<cin { for y in 0..<k { for xx in 0..<k {
            raw[((y * k + xx) * cin + i) * cout + o] = w[((o * cin + i) * k + y) * k + xx]
        } } } }
        let plain = naiveConv(x, raw, [Float](repeating: 0, count: cout), k: k, s: 1, cout: cout, groups: false)
        let bn = plain.data.enumerated().map { idx, v -> Float in
            let o = idx % cout
            return (v - mean[o]) / (variance[o] + 1e-3).squareRoot() * gamma[o] + beta[o]
        }
        assertClose(folded.data, bn)
    }
}

/// Bad weights files give errors, never a crash.
final class CheckpointErrorTests: XCTestCase {
    func testCorruptTruncatedAndForeignFiles() throws {
        let path = weightsDir.appendingPathComponent("efficientnet-lite0.pth").path
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertThrowsError(try CheckpointReader.read(path: "/nonexistent/weights.pth")) {
            XCTAssertEqual($0 as? CheckpointError, .unreadable("/nonexistent/weights.pth"))
        }
        XCTAssertThrowsError(try CheckpointReader.read(bytes: Array("not a checkpoint at all".utf8)))
        XCTAssertThrowsError(try CheckpointReader.read(bytes: [])) 
        for cut in [20, 40_000, bytes.count / 2, bytes.count - 100] {
            XCTAssertThrowsError(try CheckpointReader.read(bytes: Array(bytes.prefix(cut))), "cut at \(cut)")
        }
        var flipped = bytes
        flipped[200] ^= 0xFF  // inside the state-dict pickle
        XCTAssertThrowsError(try EfficientNetLite(variant: .lite0, checkpoint: try CheckpointReader.read(bytes: flipped)))
    }

    func testMissingOrWrongShapedTensorsAndNaN() throws {
        let path = weightsDir.appendingPathComponent("efficientnet-lite0.pth").path
        let good = try CheckpointReader.read(path: path)
        var missing = good
        missing["_blocks.3._bn1.running_var"] = nil
        XCTAssertThrowsError(try EfficientNetLite(variant: .lite0, checkpoint: missing)) {
            XCTAssertEqual($0 as? CheckpointError, .missingTensor("_blocks.3._bn1.running_var"))
        }
        var wrong = good
        wrong["_conv_head.weight"] = CheckpointTensor(shape: [1280, 321, 1, 1], values: [Float](repeating: 0, count: 1280 * 321))
        XCTAssertThrowsError(try EfficientNetLite(variant: .lite0, checkpoint: wrong))
        var flat = good
        flat["_fc.weight"] = CheckpointTensor(shape: [1280_000], values: [Float](repeating: 0, count: 1_280_000))
        XCTAssertThrowsError(try EfficientNetLite(variant: .lite0, checkpoint: flat))
        var nan = good
        var v = nan["_bn1.running_var"]!
        v.values[3] = .nan
        nan["_bn1.running_var"] = v
        XCTAssertThrowsError(try EfficientNetLite(variant: .lite0, checkpoint: nan))
    }
}
