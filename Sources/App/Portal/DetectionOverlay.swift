import Foundation
import VisionEngine

/// An image with detected boxes drawn over it and a probability-threshold slider
/// (`/js/detections.js` draws the boxes at or above the slider).
enum DetectionOverlay {
    struct Box: Encodable { var tag: String; var p: Float; var l: Double; var t: Double; var w: Double; var h: Double }

    static func node(imageURL: String, predictions: [WirePrediction], id: String? = nil, threshold: Int = 50) -> HNode {
        let boxes = predictions.compactMap { p in
            p.boundingBox.map { Box(tag: p.tagName, p: p.probability, l: $0.left, t: $0.top, w: $0.width, h: $0.height) }
        }
        let json = String(decoding: (try? JSONEncoder().encode(boxes)) ?? Data("[]".utf8), as: UTF8.self)
        return H.el("div", (id.map { [("id", $0)] } ?? []) + [("class", "detection-view")], [
            H.el("label", [], [H.text("Threshold: "), H.el("span", [("class", "detection-threshold-value")], [H.text("\(threshold)%")]),
                               H.void("input", [("type", "range"), ("min", "0"), ("max", "100"), ("value", String(threshold)),
                                                ("class", "detection-threshold"), ("aria-label", "probability threshold")])]),
            H.el("div", [("class", "detections"), ("data-detections", json)], [
                H.void("img", [("src", imageURL), ("alt", "image with detected objects")]),
            ]),
        ])
    }

    /// The held-out images of a detection iteration as the performance sliders read them.
    static func heldOutJSON(_ report: DetectionReport) -> String {
        struct Image: Encodable { var truth: [[Float]]; var detections: [[Float]] }
        struct All: Encodable { var tags: Int; var images: [Image] }
        let all = All(tags: report.tagIDs.count, images: report.images.map { i in
            Image(truth: i.truth.map { [Float($0.tag), $0.box.left, $0.box.top, $0.box.width, $0.box.height] },
                  detections: i.detections.map { [Float($0.tag), $0.probability, $0.box.left, $0.box.top, $0.box.width, $0.box.height] })
        })
        return String(decoding: (try? JSONEncoder().encode(all)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
