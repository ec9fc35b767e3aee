/// A tag's precision-recall curve as inline SVG: recall across, precision up, both axes
/// with ticks every 20 %, and the point the current threshold gives marked.
enum PRCurve {
    static func svg(_ points: [(threshold: Float, precision: Double, recall: Double)], name: String, threshold: Float) -> HNode {
        let left = 42.0, top = 12.0, w = 200.0, h = 150.0
        func x(_ r: Double) -> Double { left + w * min(1, max(0, r)) }
        func y(_ p: Double) -> Double { top + h * (1 - min(1, max(0, p))) }
        var parts: [String] = []
        parts.append("<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w)\" height=\"\(h)\" fill=\"#fff\" stroke=\"#8a96a3\"/>")
        for i in 0...5 {
            let v = Double(i) / 5
            parts.append("<line x1=\"\(x(v))\" y1=\"\(top + h)\" x2=\"\(x(v))\" y2=\"\(top + h + 4)\" stroke=\"#545d68\"/>")
            parts.append("<text x=\"\(x(v))\" y=\"\(top + h + 15)\" font-size=\"10\" text-anchor=\"middle\" fill=\"#545d68\">\(i * 20)</text>")
            parts.append("<line x1=\"\(left - 4)\" y1=\"\(y(v))\" x2=\"\(left)\" y2=\"\(y(v))\" stroke=\"#545d68\"/>")
            parts.append("<text x=\"\(left - 7)\" y=\"\(y(v) + 3)\" font-size=\"10\" text-anchor=\"end\" fill=\"#545d68\">\(i * 20)</text>")
            if i > 0 && i < 5 {
                parts.append("<line x1=\"\(x(v))\" y1=\"\(top)\" x2=\"\(x(v))\" y2=\"\(top + h)\" stroke=\"#eceff3\"/>")
                parts.append("<line x1=\"\(left)\" y1=\"\(y(v))\" x2=\"\(left + w)\" y2=\"\(y(v))\" stroke=\"#eceff3\"/>")
            }
        }
        let path = points.map { String(format: "%.1f,%.1f", x($0.recall), y($0.precision)) }.joined(separator: " ")
        if !path.isEmpty { parts.append("<polyline fill=\"none\" stroke=\"#0f5cc0\" stroke-width=\"2\" points=\"\(path)\"/>") }
        // The curve's point at the threshold: the lowest score threshold still at or above it.
        if let at = points.filter({ $0.threshold >= threshold }).last ?? points.first {
            parts.append("<circle class=\"threshold-mark\" cx=\"\(x(at.recall))\" cy=\"\(y(at.precision))\" r=\"5\" fill=\"#ffd166\" stroke=\"#102a4c\" stroke-width=\"1.5\"/>")
        }
        parts.append("<text x=\"\(left + w / 2)\" y=\"\(top + h + 30)\" font-size=\"11\" text-anchor=\"middle\" fill=\"#1b1f24\">Recall (%)</text>")
        parts.append("<text x=\"11\" y=\"\(top + h / 2)\" font-size=\"11\" text-anchor=\"middle\" fill=\"#1b1f24\" transform=\"rotate(-90 11 \(top + h / 2))\">Precision (%)</text>")
        // The slider moves the mark: the points with their thresholds, and the plot's frame.
        let data = "[" + points.map { String(format: "[%.9g,%.6f,%.6f]", $0.threshold, $0.precision, $0.recall) }.joined(separator: ",") + "]"
        let title = "Precision-recall curve for \(H.escape(name)), threshold \(Int((threshold * 100).rounded())) % marked"
        let figure = "<figure class=\"curve\"><svg class=\"pr-curve\" data-points=\"\(data)\" data-frame=\"\(left),\(top),\(w),\(h)\" width=\"260\" height=\"210\" viewBox=\"0 0 260 210\" role=\"img\" aria-label=\"\(title)\">"
            + parts.joined() + "</svg><figcaption>\(H.escape(name))</figcaption></figure>"
        return .raw(figure)
    }
}
