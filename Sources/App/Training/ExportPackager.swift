import Foundation
import VisionEngine
import ZIPFoundation

/// Lays out a classifier export's zip: the model for the platform (`model.onnx`,
/// `model.xml` + `model.bin`, `model.pb` or `saved_model.pb`) and `labels.txt`, plus a
/// README and the preprocessing code, or the Docker bundle around the ONNX model. Pure:
/// no database, no Vapor.
struct ExportPackager {
    struct TagInfo: Codable, Equatable { var id: String; var name: String; var type: String }

    let backbone: EfficientNetLite
    let head: ClassifierHead
    /// In the head's output order.
    let tags: [TagInfo]
    let projectID: UUID
    let iterationID: UUID
    let version: String

    /// The Docker bundle's service, shipped as resources of this module.
    static var bundleDirectory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("DockerBundle")
    }

    /// The Docker bundle's service files (the same for classifiers and detectors). The ARM
    /// flavor's image is the same Debian base for arm64 (every package it installs is built
    /// for arm64 by Debian and on PyPI).
    static func bundleFiles(flavor: String) throws -> [(String, Data)] {
        try ["Dockerfile", "requirements.txt", "app.py", "preprocess.py", "README.md"].map { name in
            var data = try Data(contentsOf: bundleDirectory.appendingPathComponent(name))
            if name == "Dockerfile", flavor == "ARM" {
                let text = String(decoding: data, as: UTF8.self)
                    .replacingOccurrences(of: "\nFROM debian:", with: "\nFROM --platform=linux/arm64 debian:")
                data = Data(text.utf8)
            }
            return (name, data)
        }
    }

    func package(_ target: ExportTarget) throws -> Data {
        let labels = Data(tags.map { $0.name + "\n" }.joined().utf8)
        let bundle = Self.bundleDirectory
        func resource(_ name: String) throws -> Data { try Data(contentsOf: bundle.appendingPathComponent(name)) }
        if target.platform == "TensorFlow" {
            let pb = try TensorFlowExporter.export(backbone: backbone, head: head, labels: tags.map(\.name))
            let common = [("labels.txt", labels), ("preprocess.py", try resource("preprocess.py")), ("README.md", Data(tensorFlowReadme(target).utf8))]
            guard target.flavor == "TensorFlowSavedModel" else { return try Self.zip([("model.pb", pb)] + common) }
            let saved = TensorFlowExporter.savedModel(graph: pb, inputShape: [1, head.inputSize, head.inputSize, 3],
                                                      output: TensorFlowExporter.classifierOutputName, outputShape: [1, tags.count])
            return try Self.zip([("saved_model.pb", saved), ("variables/", Data())] + common)
        }
        if target.platform == "OpenVino" {
            let ir = try OpenVINOExporter.export(backbone: backbone, head: head, labels: tags.map(\.name))
            return try Self.zip([("model.xml", ir.xml), ("model.bin", ir.weights), ("labels.txt", labels),
                                 ("preprocess.py", try resource("preprocess.py")), ("README.md", Data(openVINOReadme().utf8))])
        }
        let onnx = try ONNXExporter.export(backbone: backbone, head: head, labels: tags.map(\.name),
                                           opset: target.opset, producerVersion: version)
        var files: [(String, Data)] = [("model.onnx", onnx), ("labels.txt", labels)]
        switch target.platform {
        case "DockerFile":
            let manifest = Manifest(projectId: projectID.uuidString.lowercased(), iterationId: iterationID.uuidString.lowercased(),
                                    classificationType: head.kind == .multiclass ? "Multiclass" : "Multilabel",
                                    backbone: head.backbone, inputSize: head.inputSize, opset: target.opset.rawValue, tags: tags)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            files.append(("manifest.json", try encoder.encode(manifest)))
            files += try Self.bundleFiles(flavor: target.flavor)
        default:
            files.append(("preprocess.py", try resource("preprocess.py")))
            files.append(("README.md", Data(onnxReadme(target).utf8)))
        }
        return try Self.zip(files)
    }

    struct Manifest: Codable {
        var projectId: String, iterationId: String, classificationType: String, backbone: String
        var inputSize: Int, opset: Int, tags: [TagInfo]
    }

    private func onnxReadme(_ target: ExportTarget) -> String {
        let size = head.inputSize
        return """
        # Sightline export: \(target.flavor) model

        `model.onnx` is the whole classifier: the \(head.backbone) backbone, the trained head and
        its \(head.kind == .multiclass ? "softmax" : "sigmoids"), in ONNX opset \(target.opset.rawValue).

        - Input `data`: float32 `[N, 3, \(size), \(size)]`, RGB values 0–255. Prepare images as the
          server does: the centre square of side 224/256 of the shorter side, resized to
          \(size)×\(size) with a bicubic kernel. `preprocess.py` does exactly that with libvips
          (`pip install pyvips numpy`), giving the server's input to the bit. The model
          subtracts 127 and divides by 128 itself.
        - Output `probabilities`: float32 `[N, \(tags.count)]`, in `labels.txt` order (one tag name per line).

        With onnxruntime:

            import onnxruntime, preprocess
            session = onnxruntime.InferenceSession("model.onnx")
            x = preprocess.network_input(open("picture.jpg", "rb").read(), \(size))
            probabilities = session.run(["probabilities"], {"data": x})[0][0]

        Project \(projectID.uuidString.lowercased()), iteration \(iterationID.uuidString.lowercased()).

        """
    }

    private func tensorFlowReadme(_ target: ExportTarget) -> String {
        let size = head.inputSize
        let saved = target.flavor == "TensorFlowSavedModel"
        return """
        # Sightline export: TensorFlow model (\(saved ? "SavedModel" : "frozen graph"))

        \(saved ? "`saved_model.pb` is a SavedModel (tag `serve`, signature `serving_default`; every weight is a constant, so `variables/` is empty) holding" : "`model.pb` is") the whole classifier as a frozen TensorFlow `GraphDef`: the \(head.backbone)
        backbone, the trained head and its \(head.kind == .multiclass ? "softmax" : "sigmoids").
        \(saved ? "Load it with `tensorflow.saved_model.load(folder).signatures[\"serving_default\"]`; the tensors below are its input and output." : "")

        - Input `\(TensorFlowExporter.inputName):0`: float32 `[1, \(size), \(size), 3]`, NHWC, **BGR** values 0–255.
          Prepare images as the server does (`preprocess.network_input` gives the RGB image as
          NCHW; transpose to NHWC and reverse the channels). The model normalises itself.
        - Output `\(TensorFlowExporter.classifierOutputName):0`: float32 `[1, \(tags.count)]`, in `labels.txt` order.

            import numpy, tensorflow, preprocess
            graph = tensorflow.compat.v1.GraphDef()
            graph.ParseFromString(open("model.pb", "rb").read())
            x = preprocess.network_input(open("picture.jpg", "rb").read(), \(size)).transpose(0, 2, 3, 1)[..., ::-1]
            with tensorflow.compat.v1.Session() as s:
                tensorflow.import_graph_def(graph, name="")
                probabilities = s.run("loss:0", {"Placeholder:0": x})[0]

        Project \(projectID.uuidString.lowercased()), iteration \(iterationID.uuidString.lowercased()).

        """
    }

    private func openVINOReadme() -> String {
        let size = head.inputSize
        return """
        # Sightline export: OpenVINO model

        `model.xml` and `model.bin` are the whole classifier as OpenVINO IR (version 11): the
        \(head.backbone) backbone, the trained head and its \(head.kind == .multiclass ? "softmax" : "sigmoids").

        - Input `data`: float32 `[1, 3, \(size), \(size)]`, NCHW, RGB values 0–1. Prepare images as
          the server does (the centre square of side 224/256 of the shorter side, resized to
          \(size)×\(size) with a bicubic kernel: `preprocess.network_input`, which gives 0–255)
          and divide by 255. The model scales back, subtracts 127 and divides by 128 itself.
        - Output `probabilities`: float32 `[1, \(tags.count)]`, in `labels.txt` order.

        With OpenVINO's Python runtime:

            import openvino, preprocess
            model = openvino.Core().compile_model("model.xml", "CPU")
            x = preprocess.network_input(open("picture.jpg", "rb").read(), \(size)) / 255
            probabilities = model(x)["probabilities"][0]

        Project \(projectID.uuidString.lowercased()), iteration \(iterationID.uuidString.lowercased()).

        """
    }

    /// A deflated zip of the files, in order; a name ending in `/` is an (empty) folder.
    static func zip(_ files: [(String, Data)]) throws -> Data {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-export-\(UUID().uuidString).zip")
        defer { try? FileManager.default.removeItem(at: url) }
        try write(files, to: url)
        return try Data(contentsOf: url)
    }

    /// The archive closes its file when it is released, at the end of this call.
    private static func write(_ files: [(String, Data)], to url: URL) throws {
        let archive = try Archive(url: url, accessMode: .create)
        for (name, data) in files {
            if name.hasSuffix("/") {
                try archive.addEntry(with: name, type: .directory, uncompressedSize: Int64(0)) { _, _ in Data() }
                continue
            }
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
    }
}
