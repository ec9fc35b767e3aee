import Foundation
@testable import VisionEngine
import XCTest

/// Padding arithmetic and BatchNorm folding.
final class KernelTests: XCTestCase {
    func assertClose(_ a: [Float], _ b: [Float], _ tol: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        XCTAssertLessThan(worst, tol, file: file, line: line)
    }

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

    /// A conv followed by BatchNorm equals the folded conv the loader builds.
    func testBatchNormFolding() throws {
        let cout = 4, cin = 3, k = 3
        let w = random(cout * cin * k * k)   // PyTorch (cout, cin, k, k)
        let gamma = random(cout).map { $0 + 1.5 }, beta = random(cout), mean = random(cout), variance = random(cout).map { abs($0) + 0.1 }
        let t: [String: CheckpointTensor] = [
            "c.weight": .init(shape: [cout, cin, k, k], values: w),
            "bn.weight": .init(shape: [cout], values: gamma), "bn.bias": .init(shape: [cout], values: beta),
            "bn.running_mean": .init(shape: [cout], values: mean), "bn.running_var": .init(shape: [cout], values: variance),
        ]
        let conv = try EfficientNetLite.foldedConv(t, "c", "bn", depthwise: false)
        let x = Tensor(n: 1, h: 6, w: 5, c: cin, data: random(6 * 5 * cin))
        let folded = ConvolutionLayer(cin: cin, cout: cout, k: k, relu6: false, weights: conv.weights, bias: conv.bias).forward(x)
        // Unfolded: convolution with the raw weights, then BN.
        let plain = ReferenceConvolution.apply(x, w, [Float](repeating: 0, count: cout), k: k, stride: 1, cout: cout, groups: 1)
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
