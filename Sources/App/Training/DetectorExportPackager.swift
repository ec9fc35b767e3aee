import Foundation
import VisionEngine

/// Lays out a detection export's zip: `model.onnx` in Custom Vision's compact grid
/// format, `labels.txt` (class-logit order) and a README with the decoding; or the Docker
/// bundle around them, whose service decodes and suppresses as the server does.
struct DetectorExportPackager {
    let backbone: EfficientNetLite
    let head: DetectorHead
    /// In the head's output order.
    let tags: [ExportPackager.TagInfo]
    let projectID: UUID
    let iterationID: UUID
    let version: String

    func package(_ target: ExportTarget) throws -> Data {
        guard ["ONNX", "DockerFile", "OpenVino", "TensorFlow", "CoreML"].contains(target.platform) else {
            throw ExportError.incompatibleHead("object detectors export to ONNX, DockerFile, OpenVino, TensorFlow and CoreML on this server")
        }
        let labels = Data(tags.map { $0.name + "\n" }.joined().utf8)
        if target.platform == "TensorFlow", target.flavor == "TensorFlowLite" {
            let model = try TFLiteExporter.exportDetector(backbone: backbone, head: head, labels: tags.map(\.name))
            return try ExportPackager.zip([("model.tflite", model), ("labels.txt", labels), ("README.md", Data(readme(target).utf8))])
        }
        if target.platform == "TensorFlow" {
            let pb = try TensorFlowExporter.exportDetector(backbone: backbone, head: head, labels: tags.map(\.name))
            let common = [("labels.txt", labels), ("README.md", Data(readme(target).utf8))]
            guard target.flavor == "TensorFlowSavedModel" else { return try ExportPackager.zip([("model.pb", pb)] + common) }
            let n = DetectionGrid.cells(inputSize: head.inputSize)
            let saved = TensorFlowExporter.savedModel(graph: pb, inputShape: [1, head.inputSize, head.inputSize, 3],
                                                      output: ONNXExporter.detectorOutputName, outputShape: [1, n, n, head.outputs])
            return try ExportPackager.zip([("saved_model.pb", saved), ("variables/", Data())] + common)
        }
        if target.platform == "CoreML" {
            let model = try CoreMLExporter.exportDetector(backbone: backbone, head: head, labels: tags.map(\.name))
            return try ExportPackager.zip([("model.mlmodel", model), ("labels.txt", labels), ("README.md", Data(readme(target).utf8))])
        }
        if target.platform == "OpenVino" {
            let ir = try OpenVINOExporter.exportDetector(backbone: backbone, head: head, labels: tags.map(\.name))
            return try ExportPackager.zip([("model.xml", ir.xml), ("model.bin", ir.weights), ("labels.txt", labels),
                                           ("README.md", Data(readme(target).utf8))])
        }
        let onnx = try ONNXExporter.exportDetector(backbone: backbone, head: head, labels: tags.map(\.name),
                                                   opset: target.opset, producerVersion: version, float16: target.float16)
        var files: [(String, Data)] = [("model.onnx", onnx), ("labels.txt", labels)]
        if target.platform == "DockerFile" {
            let manifest = Manifest(projectId: projectID.uuidString.lowercased(), iterationId: iterationID.uuidString.lowercased(),
                                    backbone: head.backbone, inputSize: head.inputSize, opset: target.opset.rawValue, tags: tags,
                                    detection: .init())
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            files.append(("manifest.json", try encoder.encode(manifest)))
            files += try ExportPackager.bundleFiles(flavor: target.flavor)
            files.append(("DECODING.md", Data(readme(target).utf8)))
        } else {
            files.append(("README.md", Data(readme(target).utf8)))
        }
        return try ExportPackager.zip(files)
    }

    /// The bundle service's description of the model; `detection` tells it to decode boxes.
    struct Manifest: Codable {
        struct Decoding: Codable {
            var output = ONNXExporter.detectorOutputName
            var anchors = DetectionGrid.anchors.map { [$0.w, $0.h] }
            var minimumProbability = DetectionGrid.minimumProbability
            var overlap = DetectionGrid.nmsOverlap
            var maxDetections = DetectionGrid.maxDetections
        }
        var projectId: String, iterationId: String, projectType = "ObjectDetection", backbone: String
        var inputSize: Int, opset: Int, tags: [ExportPackager.TagInfo], detection: Decoding
    }

    private func readme(_ target: ExportTarget) -> String {
        let anchors = DetectionGrid.anchors.map { "[\($0.w), \($0.h)]" }.joined(separator: ", ")
        let c = tags.count
        let openVINO = target.platform == "OpenVino", tensorFlow = target.platform == "TensorFlow", coreML = target.platform == "CoreML"
        let lite = target.flavor == "TensorFlowLite", saved = target.flavor == "TensorFlowSavedModel"
        let files = coreML ? "`model.mlmodel` is" : openVINO ? "`model.xml` and `model.bin` are"
            : tensorFlow ? (saved ? "`saved_model.pb` is" : lite ? "`model.tflite` is" : "`model.pb` is") : "`model.onnx` is"
        let format = coreML ? "a Core ML NeuralNetwork (specification version 4)" : openVINO ? "OpenVINO IR (version 11)"
            : tensorFlow ? (saved ? "a TensorFlow SavedModel (`saved_model.pb`, tag `serve`, signature `serving_default`; no variables)"
                            : lite ? "a TensorFlow Lite FlatBuffer (schema 3, float32)" : "a frozen TensorFlow GraphDef")
            : "ONNX opset \(target.opset.rawValue)"
        let size = head.inputSize, n = DetectionGrid.cells(inputSize: head.inputSize)
        let input = coreML ? "`\(CoreMLExporter.inputName)`: an image \(size)×\(size), RGB" : tensorFlow ? "`\(TensorFlowExporter.inputName)\(lite ? "" : ":0")`: float32 `[1, \(size), \(size), 3]`, NHWC, **BGR** values 0–255"
            : "`data`: \(target.float16 ? "float16" : "float32") `[1, 3, \(size), \(size)]`, NCHW, " + (openVINO ? "RGB values 0–1 (divide the 0–255 pixels by 255)" : "RGB values 0–255")
        let output = coreML ? "`\(ONNXExporter.detectorOutputName)`: float32 multi-array `[\(DetectionGrid.channels(classes: c)), \(n), \(n)]`" : tensorFlow ? "`\(ONNXExporter.detectorOutputName)\(lite ? "" : ":0")`: float32 `[1, \(n), \(n), \(DetectionGrid.channels(classes: c))]` (NHWC)"
            : "`\(ONNXExporter.detectorOutputName)`: \(target.float16 ? "float16" : "float32") `[1, \(DetectionGrid.channels(classes: c)), \(n), \(n)]`"
        return """
        # Sightline export: \(coreML ? "Core ML" : openVINO ? "OpenVINO" : target.flavor) object detector

        \(files) the whole detector (the \(head.backbone) backbone and the trained head) in
        Custom Vision's compact object-detection format, \(format).

        - Input \(input): the whole image resized to
          \(size)×\(size) (bicubic; the aspect ratio is not kept). The model normalises it itself.
        - Output \(output). For anchor a
          (0–4) the channels a·\(5 + c)+k hold, for k = 0…\(4 + c): σ(tx), σ(ty), tw, th, the objectness
          logit, then one logit per tag in `labels.txt` order.

        Decoding, for grid cell (row, col) and anchor a with size (aw, ah) from
        \(anchors) (cell units):

            x = (σ(tx) + col) / \(n),  y = (σ(ty) + row) / \(n)        # box centre, 0–1
            w = exp(tw) · aw / \(n),   h = exp(th) · ah / \(n)
            score(tag) = σ(objectness) · softmax(class logits)[tag]

        Keep scores above 0.01, suppress per tag at IoU 0.45 (highest score first), keep the
        best 64: that is what the server returns, with left = x − w/2, top = y − h/2, clipped
        to the image.

        Project \(projectID.uuidString.lowercased()), iteration \(iterationID.uuidString.lowercased()).

        """
    }
}
