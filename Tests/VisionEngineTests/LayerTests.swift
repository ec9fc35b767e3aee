import Foundation
@testable import VisionEngine
import XCTest

/// The trainable layers on oneDNN: forward against the reference convolution, backward
/// against central finite differences, and Adam actually training them.
final class LayerTests: XCTestCase {
    var rng = SplitMix64(seed: 7)
    func random(_ n: Int, _ range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<n).map { _ in range.lowerBound + Float(rng.nextUnit()) * (range.upperBound - range.lowerBound) }
    }

    func assertClose(_ a: [Float], _ b: [Float], _ tol: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        XCTAssertLessThan(worst, tol, file: file, line: line)
    }

    func testConvolutionsMatchTheReference() {
        // (h, w, cin, cout, k, stride, groups): the stem, depthwise 3×3 and 5×5 at both strides, pointwise.
        let cases = [(9, 7, 3, 8, 3, 2, 1), (8, 8, 3, 8, 3, 2, 1), (9, 9, 6, 6, 5, 2, 6), (7, 10, 6, 6, 3, 1, 6),
                     (15, 13, 8, 8, 3, 2, 8), (5, 6, 7, 4, 1, 1, 1), (4, 4, 8, 4, 3, 1, 2)]
        for (h, w, cin, cout, k, s, g) in cases {
            let x = Tensor(n: 2, h: h, w: w, c: cin, data: random(2 * h * w * cin))
            let wt = random(cout * cin / g * k * k), b = random(cout)
            let ref = ReferenceConvolution.apply(x, wt, b, k: k, stride: s, cout: cout, groups: g)
            let y = ConvolutionLayer(cin: cin, cout: cout, k: k, stride: s, groups: g, relu6: false, weights: wt, bias: b).forward(x)
            XCTAssertEqual([y.h, y.w], [ref.h, ref.w])
            assertClose(y.data, ref.data)
            let clipped = ConvolutionLayer(cin: cin, cout: cout, k: k, stride: s, groups: g, relu6: true, weights: wt.map { $0 * 9 }, bias: b).forward(x)
            let refClipped = ReferenceConvolution.apply(x, wt.map { $0 * 9 }, b, k: k, stride: s, cout: cout, groups: g)
            assertClose(clipped.data, refClipped.data.map { min(max($0, 0), 6) })
        }
    }

    func testPoolAndLinearMatchTheDefinition() {
        let x = Tensor(n: 2, h: 3, w: 5, c: 7, data: random(2 * 3 * 5 * 7))
        let pooled = GlobalAveragePoolLayer().forward(x)
        for n in 0..<2 { for c in 0..<7 {
            let mean = (0..<15).map { x.data[(n * 15 + $0) * 7 + c] }.reduce(0, +) / 15
            XCTAssertEqual(pooled.data[n * 7 + c], mean, accuracy: 1e-5)
        } }
        let fc = random(3 * 7), fb = random(3)
        let d = LinearLayer(inputs: 7, outputs: 3, weights: fc, bias: fb).forward(pooled)
        for n in 0..<2 { for o in 0..<3 {
            let v = fb[o] + (0..<7).map { pooled.data[n * 7 + $0] * fc[o * 7 + $0] }.reduce(0, +)
            XCTAssertEqual(d.data[n * 3 + o], v, accuracy: 1e-5)
        } }
    }

    // MARK: gradients

    /// L = Σ y·r for a fixed random r, so ∂L/∂y = r.
    func loss(_ layer: any Layer, _ x: Tensor, _ r: [Float]) -> Double {
        zip(layer.forward(x).data, r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// ‖numeric − analytic‖ / ‖analytic‖ over the input and every parameter, with central
    /// differences. The layers are piecewise linear and the tests keep activations away
    /// from ReLU6's kinks, so the differences are exact up to float rounding.
    func gradientError(_ layer: any Layer, input x: Tensor, step: Float = 1e-2, file: StaticString = #filePath, line: UInt = #line) -> Float {
        let y = layer.forward(x)
        let r = random(y.count)
        let dx = layer.backward(Tensor(n: y.n, h: y.h, w: y.w, c: y.c, data: r))
        var num: Double = 0, den: Double = 0
        func compare(_ analytic: Float, _ numeric: Double) {
            num += (Double(analytic) - numeric) * (Double(analytic) - numeric)
            den += Double(analytic) * Double(analytic)
        }
        var probe = x
        for i in x.data.indices {
            probe.data[i] = x.data[i] + step; let up = loss(layer, probe, r)
            probe.data[i] = x.data[i] - step; let down = loss(layer, probe, r)
            probe.data[i] = x.data[i]
            compare(dx.data[i], (up - down) / Double(2 * step))
        }
        let analytic = layer.parameters.map(\.gradient)
        for (p, g) in zip(layer.parameters, analytic) {
            for i in p.value.indices {
                let v = p.value[i]
                p.value[i] = v + step; let up = loss(layer, x, r)
                p.value[i] = v - step; let down = loss(layer, x, r)
                p.value[i] = v
                compare(g[i], (up - down) / Double(2 * step))
            }
        }
        XCTAssertGreaterThan(den, 0, "no gradient at all", file: file, line: line)
        let error = Float((num / den).squareRoot())
        print("gradient check \(type(of: layer)): relative error \(error)")
        return error
    }

    /// Biases of 3, −4 and 10 per channel put the pre-activations (within ±2 of them)
    /// inside ReLU6, below it and above it: all three cases of its backward, no kinks.
    func kinkFreeBias(_ c: Int) -> [Float] { (0..<c).map { [3, -4, 10][$0 % 3] } }

    func testConvolutionGradients() {
        for (h, w, cin, cout, k, s, g, relu6) in [(6, 5, 3, 4, 3, 2, 1, false), (5, 5, 3, 6, 3, 1, 1, true),
                                                  (6, 6, 4, 4, 5, 2, 4, true), (4, 5, 6, 6, 3, 1, 6, false),
                                                  (3, 3, 5, 3, 1, 1, 1, true)] {
            let layer = ConvolutionLayer(cin: cin, cout: cout, k: k, stride: s, groups: g, relu6: relu6,
                                         weights: random(cout * cin / g * k * k, -0.1...0.1),
                                         bias: relu6 ? kinkFreeBias(cout) : random(cout))
            let x = Tensor(n: 2, h: h, w: w, c: cin, data: random(2 * h * w * cin))
            let e = gradientError(layer, input: x)
            XCTAssertLessThan(e, 1e-3, "conv \(cin)→\(cout) k\(k) s\(s) g\(g) relu6 \(relu6)")
        }
    }

    func testPoolLinearAndStackGradients() {
        let x = Tensor(n: 2, h: 3, w: 4, c: 5, data: random(2 * 3 * 4 * 5))
        XCTAssertLessThan(gradientError(GlobalAveragePoolLayer(), input: x), 1e-3)
        XCTAssertLessThan(gradientError(LinearLayer(inputs: 5, outputs: 3, seed: 3), input: Tensor(n: 4, h: 1, w: 1, c: 5, data: random(20))), 1e-3)
        // An MBConv-like residual block, a head convolution, pooling and a linear layer.
        let block = ResidualLayer(LayerStack([
            ConvolutionLayer(cin: 4, cout: 6, k: 1, relu6: true, weights: random(24, -0.1...0.1), bias: kinkFreeBias(6)),
            ConvolutionLayer(cin: 6, cout: 6, k: 3, groups: 6, relu6: false, weights: random(54, -0.3...0.3), bias: random(6)),
            ConvolutionLayer(cin: 6, cout: 4, k: 1, relu6: false, weights: random(24, -0.3...0.3), bias: random(4)),
        ]))
        let stack = LayerStack([block, GlobalAveragePoolLayer(), LinearLayer(inputs: 4, outputs: 3, seed: 5)])
        XCTAssertLessThan(gradientError(stack, input: Tensor(n: 2, h: 5, w: 5, c: 4, data: random(200))), 1e-3)
    }

    // MARK: training

    /// Softmax cross-entropy: the mean loss and its gradient for logits [N, C].
    func crossEntropy(_ logits: Tensor, _ labels: [Int]) -> (Float, Tensor) {
        var g = logits, total: Float = 0
        let c = logits.c
        for n in 0..<logits.n {
            let row = Array(logits.data[n * c..<(n + 1) * c]), top = row.max()!
            let e = row.map { exp($0 - top) }, s = e.reduce(0, +)
            total -= log(e[labels[n]] / s)
            for j in 0..<c { g.data[n * c + j] = (e[j] / s - (j == labels[n] ? 1 : 0)) / Float(logits.n) }
        }
        return (total / Float(logits.n), g)
    }

    /// (a) A 2-layer convolutional head on feature maps learns where a bright blob is.
    func testAdamTrainsAConvolutionalHead() {
        let n = 16, size = 8, c = 8
        var maps = [Float](), labels = [Int]()
        for i in 0..<n {
            let label = i % 2
            var m = random(size * size * c, 0...0.2)
            let (cy, cx) = label == 0 ? (1, 1) : (6, 6)   // top-left or bottom-right
            for ch in 0..<c { m[(cy * size + cx) * c + ch] += 2 }
            maps += m; labels.append(label)
        }
        let x = Tensor(n: n, h: size, w: size, c: c, data: maps)
        let head = LayerStack([ConvolutionLayer(cin: c, cout: 8, k: 3, stride: 2, relu6: true, seed: 11),
                               ConvolutionLayer(cin: 8, cout: 2, k: 4, stride: 4, relu6: false, seed: 12)])
        let adam = AdamOptimizer(learningRate: 0.01)
        var first: Float = 0, lastLoss: Float = 0
        for step in 0..<150 {
            let logits = head.forward(x)
            XCTAssertEqual([logits.h, logits.w, logits.c], [1, 1, 2])
            let (l, g) = crossEntropy(logits, labels)
            if step == 0 { first = l }
            lastLoss = l
            _ = head.backward(g)
            adam.update(head.parameters)
        }
        XCTAssertLessThan(lastLoss, first * 0.1, "loss \(first) → \(lastLoss)")
    }

    /// (b) The backbone's last stage with a linear head: starts out equal to the
    /// forward pass and trains.
    func testLastStageAndLinearHeadTrain() throws {
        let model = try lite0()
        let input = try floats(sharedReference.appendingPathComponent("golden/efficientnet-lite0.golden_input.f32"))
        let out = model.forward(Tensor(n: 1, h: 224, w: 224, c: 3, data: input), featureMaps: true)
        let start = try XCTUnwrap(out.map(.lastStageInput))
        XCTAssertEqual([start.h, start.w, start.c], [7, 7, 192])
        let tail = model.trainableTail()
        let pooled = tail.forward(start)
        assertClose(pooled.data, out.features, 1e-4)

        // Two classes: the image and its negative, through the tail and a new linear head.
        var negative = start
        for i in negative.data.indices { negative.data[i] = 6 - negative.data[i] }
        let x = Tensor(n: 2, h: 7, w: 7, c: 192, data: start.data + negative.data)
        let linear = LinearLayer(inputs: 1280, outputs: 2, seed: 4)
        let net = LayerStack([tail, linear])
        let adam = AdamOptimizer(learningRate: 1e-4)
        var losses: [Float] = []
        for _ in 0..<8 {
            let (l, g) = crossEntropy(net.forward(x), [0, 1])
            losses.append(l)
            _ = net.backward(g)
            adam.update(net.parameters)
        }
        XCTAssertLessThan(losses.last!, losses.first! * 0.5, "losses \(losses)")
    }
}
