import Foundation
@testable import VisionEngine
import XCTest

/// The detection pieces on their own: the loss's and BatchNorm's gradients against
/// finite differences, decoding and NMS, the folded inference head against the training
/// network, views' box mapping, and AP on hand-made cases.
final class DetectionTests: XCTestCase {
    var rng = SplitMix64(seed: 3)
    func random(_ n: Int, _ range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<n).map { _ in range.lowerBound + Float(rng.nextUnit()) * (range.upperBound - range.lowerBound) }
    }

    func box(_ l: Float, _ t: Float, _ w: Float, _ h: Float) -> NormalisedBox { NormalisedBox(left: l, top: t, width: w, height: h) }

    func testGIoUGradientMatchesFiniteDifferences() {
        let truths = [box(0.2, 0.3, 0.3, 0.2), box(0.5, 0.1, 0.1, 0.6)]
        let preds: [(Float, Float, Float, Float)] = [(0.35, 0.4, 0.25, 0.3), (0.6, 0.5, 0.4, 0.1), (0.1, 0.1, 0.05, 0.05)]
        for g in truths {
            for (cx, cy, w, h) in preds {
                let r = DetectionLoss.giou(cx: cx, cy: cy, w: w, h: h, truth: g)
                let e: Float = 1e-3
                func f(_ d: [Float]) -> Float { DetectionLoss.giou(cx: cx + d[0], cy: cy + d[1], w: w + d[2], h: h + d[3], truth: g).giou }
                let numeric = (0..<4).map { i -> Float in
                    var p = [Float](repeating: 0, count: 4), m = p
                    p[i] = e; m[i] = -e
                    return (f(p) - f(m)) / (2 * e)
                }
                for (a, n) in zip([r.dcx, r.dcy, r.dw, r.dh], numeric) { XCTAssertEqual(a, n, accuracy: 2e-3) }
            }
        }
    }

    func testLossGradientMatchesFiniteDifferences() {
        lossGradientCheck(cells: DetectionGrid.cells)
    }

    /// The finer grid of a 608 input (19×19): same loss, the grid read from the output's size.
    func testLossGradientOnTheFinerGrid() {
        XCTAssertEqual(DetectionGrid.cells(inputSize: 608), 19)
        lossGradientCheck(cells: 19)
    }

    func lossGradientCheck(cells: Int) {
        let classes = 2, ch = DetectionGrid.channels(classes: classes)
        var raw = random(2 * cells * cells * ch, -0.5...0.5)
        let targets = [[LabeledBox(tag: 0, box: box(0.1, 0.2, 0.3, 0.25)), LabeledBox(tag: 1, box: box(0.55, 0.5, 0.2, 0.4))],
                       [LabeledBox(tag: 1, box: box(0.3, 0.3, 0.5, 0.5))]]
        // The slots that carry a target, and some negatives.
        let positives = targets.enumerated().flatMap { s, t in
            DetectionLoss.assign(t, cells: cells).keys.map { slot in s * cells * cells * ch + (slot / 5) * ch + (slot % 5) * (5 + classes) }
        }
        // The objectness target is the detached IoU: with the positives' objectness logits
        // at 0 the loss does not depend on that target, so differences see only what the
        // gradient covers.
        for o in positives { raw[o + 4] = 0 }
        let (_, g) = DetectionLoss.evaluate(raw, targets: targets, classes: classes)
        var checked = 0, kinks = 0
        for o in positives + [7, 100, 1000] {
            for k in 0..<(5 + classes) where o + k < raw.count {
                let i = o + k, e: Float = 1e-2
                let saved = raw[i]
                raw[i] = saved + e
                let up = DetectionLoss.evaluate(raw, targets: targets, classes: classes).loss
                raw[i] = saved - e
                let down = DetectionLoss.evaluate(raw, targets: targets, classes: classes).loss
                raw[i] = saved
                // GIoU has kinks where an edge crosses a truth edge: skip points whose one-sided
                // slopes disagree (a kink within ±e), check the rest.
                let base = DetectionLoss.evaluate(raw, targets: targets, classes: classes).loss
                if abs((up - base) / e - (base - down) / e) > 2e-2 { kinks += 1; continue }
                XCTAssertEqual(g[i], (up - down) / (2 * e), accuracy: 3e-3, "channel \(k) at \(o)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20)
        XCTAssertLessThan(kinks, checked / 5)
    }

    func testBatchNormGradientMatchesFiniteDifferences() {
        let bn = BatchNormLayer(channels: 3, relu: true)
        bn.gamma.value = [1.5, 0.7, 1]; bn.beta.value = [0.3, -0.2, 0.5]
        let x = Tensor(n: 2, h: 2, w: 3, c: 3, data: random(36))
        let r = random(36)
        func loss() -> Double { zip(bn.forward(x).data, r).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        _ = bn.forward(x)
        let dx = bn.backward(Tensor(n: 2, h: 2, w: 3, c: 3, data: r))
        let e: Float = 1e-3
        var worst: Float = 0
        for i in 0..<36 {
            var xp = x, xm = x
            xp.data[i] += e; xm.data[i] -= e
            let up = zip(bn.forward(xp).data, r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            let down = zip(bn.forward(xm).data, r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            worst = max(worst, abs(Float((up - down) / Double(2 * e)) - dx.data[i]))
        }
        XCTAssertLessThan(worst, 5e-3)
        _ = loss()
    }

    func testDecodeFindsTheBoxAndSuppressesDuplicates() {
        let classes = 2, ch = DetectionGrid.channels(classes: classes), n = DetectionGrid.cells
        var raw = [Float](repeating: -8, count: n * n * ch)
        // Cell (row 6, col 4), anchor 2: centre offsets 0, size exp(0)·anchor.
        func set(row: Int, col: Int, a: Int, tag: Int, obj: Float) {
            let o = (row * n + col) * ch + a * (5 + classes)
            raw[o] = 0; raw[o + 1] = 0; raw[o + 2] = 0; raw[o + 3] = 0; raw[o + 4] = obj
            raw[o + 5] = tag == 0 ? 4 : -4; raw[o + 6] = tag == 1 ? 4 : -4
        }
        set(row: 6, col: 4, a: 2, tag: 1, obj: 3)
        set(row: 6, col: 4, a: 1, tag: 1, obj: 1)   // smaller box inside the first: IoU < 0.45, kept
        set(row: 6, col: 5, a: 2, tag: 1, obj: 2)   // one cell right, heavy overlap: suppressed
        set(row: 6, col: 5, a: 3, tag: 0, obj: 2)   // other tag: kept whatever it overlaps
        let d = DetectionGrid.decode(raw, classes: classes)
        XCTAssertEqual(d.first?.tag, 1)
        let first = d[0].box
        XCTAssertEqual(first.left + first.width / 2, 4.5 / 13, accuracy: 1e-5)
        XCTAssertEqual(first.top + first.height / 2, 6.5 / 13, accuracy: 1e-5)
        XCTAssertEqual(first.width, 3.34 / 13, accuracy: 1e-5)
        let objectness: Float = 1 / (1 + exp(-3)), e4: Float = exp(4), classProbability: Float = e4 / (e4 + 1 / e4)
        XCTAssertEqual(d[0].probability, objectness * classProbability, accuracy: 1e-5)
        XCTAssertEqual(d.filter { $0.tag == 1 && $0.probability > 0.5 }.count, 2)
        XCTAssertTrue(d.contains { $0.tag == 0 && $0.probability > 0.5 })
        XCTAssertEqual(DetectionGrid.decode([Float](repeating: -8, count: n * n * ch), classes: classes), [])
    }

    /// A 19×19 output (608 input) decodes on its own grid.
    func testDecodeReadsTheGridFromTheOutputSize() {
        let classes = 1, ch = DetectionGrid.channels(classes: classes), n = 19
        var raw = [Float](repeating: -8, count: n * n * ch)
        let o = (10 * n + 3) * ch + 1 * (5 + classes)
        raw[o] = 0; raw[o + 1] = 0; raw[o + 2] = 0; raw[o + 3] = 0; raw[o + 4] = 3; raw[o + 5] = 0
        let d = DetectionGrid.decode(raw, classes: classes)
        XCTAssertEqual(d.count, 1)
        XCTAssertEqual(d[0].box.left + d[0].box.width / 2, 3.5 / 19, accuracy: 1e-5)
        XCTAssertEqual(d[0].box.top + d[0].box.height / 2, 10.5 / 19, accuracy: 1e-5)
        XCTAssertEqual(d[0].box.height, 2.06 / 19, accuracy: 1e-5)
    }

    func testFoldedHeadMatchesTheTrainingNetworkAndRoundTrips() throws {
        let inputs = 40, classes = 3
        let net = DetectionTrainer.Network(inputs: inputs, width: 16, outputs: DetectionGrid.channels(classes: classes),
                                           classes: classes, seed: 5, threads: 1)
        let n = DetectionGrid.cells
        // A few training steps move the running statistics away from 0 and 1.
        for _ in 0..<3 { _ = net.forward(Tensor(n: 2, h: n, w: n, c: inputs, data: random(2 * n * n * inputs, 0...2))) }
        net.bn1.training = false; net.bn2.training = false
        let x = random(n * n * inputs, 0...2)
        let expected = net.forward(Tensor(n: 1, h: n, w: n, c: inputs, data: x)).data
        let head = net.head(backbone: "test", inputSize: 416, tagIDs: ["a", "b", "c"])
        let got = head.rawOutput(x)
        let worst = zip(got, expected).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4)
        let back = try DetectorHead.deserialise(try head.serialised())
        XCTAssertEqual(back, head)
        XCTAssertThrowsError(try DetectorHead.deserialise(Data("SLDET1\n\0garbage".utf8)))
    }

    func testViewsMapBoxesAndDropMostlyCutOnes() {
        var v = DetectionView.whole
        v.crop = box(0.5, 0, 0.5, 1)
        let boxes = [LabeledBox(tag: 0, box: box(0.6, 0.2, 0.2, 0.2)), LabeledBox(tag: 1, box: box(0.4, 0.5, 0.2, 0.2)),
                     LabeledBox(tag: 1, box: box(0.3, 0.5, 0.25, 0.2))]
        let mapped = v.boxes(boxes)
        XCTAssertEqual(mapped.count, 2)   // the third has only 0.05 of its 0.25 width inside
        XCTAssertEqual(mapped[0].box.left, 0.2, accuracy: 1e-6)
        XCTAssertEqual(mapped[0].box.width, 0.4, accuracy: 1e-6)
        XCTAssertEqual(mapped[1].box.left, 0, accuracy: 1e-6)
        XCTAssertEqual(mapped[1].box.width, 0.2, accuracy: 1e-6)
        v.flip = true
        XCTAssertEqual(v.boxes(boxes)[0].box.left, 0.4, accuracy: 1e-6)
        let views = DetectionView.views(count: 16)
        XCTAssertEqual(views[0], .whole)
        XCTAssertTrue(views[1].flip && views[1].crop == DetectionView.whole.crop)
        for w in views.dropFirst(2) {
            XCTAssertGreaterThanOrEqual(w.crop.area, 0.44); XCTAssertLessThanOrEqual(w.crop.right, 1.0001)
            XCTAssertLessThanOrEqual(w.crop.bottom, 1.0001)
        }
    }

    func testAveragePrecisionOnHandMadeCases() {
        let t = [LabeledBox(tag: 0, box: box(0, 0, 0.2, 0.2)), LabeledBox(tag: 0, box: box(0.5, 0.5, 0.2, 0.2))]
        // A hit (0.9), a miss (0.8), the second hit (0.7): AP = 0.5·1 + 0.5·(2/3).
        let image = DetectionReport.HeldOutImage(sample: 0, truth: t, detections: [
            Detection(tag: 0, probability: 0.9, box: box(0.01, 0, 0.2, 0.2)),
            Detection(tag: 0, probability: 0.8, box: box(0.3, 0.3, 0.1, 0.1)),
            Detection(tag: 0, probability: 0.7, box: box(0.5, 0.52, 0.2, 0.2)),
            Detection(tag: 0, probability: 0.6, box: box(0.0, 0.01, 0.2, 0.2)),   // duplicate of the first: a false positive
        ])
        let report = DetectionReport(tagIDs: ["a", "b"], images: [image])
        let s = report.summary(threshold: 0.75, overlap: 0.5)
        XCTAssertEqual(s.perTag[0].averagePrecision, 0.5 + 0.5 * 2 / 3, accuracy: 1e-9)
        XCTAssertEqual(s.perTag[0].precision, 0.5, accuracy: 1e-9)
        XCTAssertEqual(s.perTag[0].recall, 0.5, accuracy: 1e-9)
        XCTAssertEqual(s.meanAveragePrecision, s.perTag[0].averagePrecision, accuracy: 1e-9)   // tag b has no boxes
        // A demanding overlap turns the shifted hit into a miss.
        XCTAssertLessThan(report.summary(threshold: 0.5, overlap: 0.9).perTag[0].averagePrecision, 0.6)
    }
}
