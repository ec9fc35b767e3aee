import Foundation
import VisionEngine
import ZIPFoundation

/// Lays out a classifier export's zip: the model for the platform (`model.onnx`,
/// `model.xml` + `model.bin`, `model.pb`, `saved_model.pb`, `model.tflite` or
/// `model.mlmodel`) and `labels.txt`, plus a
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
        if target.platform == "TensorFlow", target.flavor == "TensorFlowLite" {
            let model = try TFLiteExporter.export(backbone: backbone, head: head, labels: tags.map(\.name))
            return try Self.zip([("model.tflite", model), ("labels.txt", labels), ("preprocess.py", try resource("preprocess.py")),
                                 ("README.md", Data(tfLiteReadme().utf8))])
        }
        if target.platform == "TensorFlow" {
            let pb = try TensorFlowExporter.export(backbone: backbone, head: head, labels: tags.map(\.name))
            let common = [("labels.txt", labels), ("preprocess.py", try resource("preprocess.py")), ("README.md", Data(tensorFlowReadme(target).utf8))]
            guard target.flavor == "TensorFlowSavedModel" else { return try Self.zip([("model.pb", pb)] + common) }
            let saved = TensorFlowExporter.savedModel(graph: pb, inputShape: [1, head.inputSize, head.inputSize, 3],
                                                      output: TensorFlowExporter.classifierOutputName, outputShape: [1, tags.count])
            return try Self.zip([("saved_model.pb", saved), ("variables/", Data())] + common)
        }
        if target.platform == "CoreML" {
            let model = try CoreMLExporter.export(backbone: backbone, head: head, labels: tags.map(\.name))
            return try Self.zip([("model.mlmodel", model), ("labels.txt", labels), ("preprocess.py", try resource("preprocess.py")),
                                 ("README.md", Data(coreMLReadme().utf8))])
        }
        if target.platform == "OpenVino" {
            let ir = try OpenVINOExporter.export(backbone: backbone, head: head, labels: tags.map(\.name))
            return try Self.zip([("model.xml", ir.xml), ("model.bin", ir.weights), ("labels.txt", labels),
                                 ("preprocess.py", try resource("preprocess.py")), ("README.md", Data(openVINOReadme().utf8))])
        }
        let onnx = try ONNXExporter.export(backbone: backbone, head: head, labels: tags.map(\.name),
                                           opset: target.opset, producerVersion: version, float16: target.float16)
        var files: [(String, Data)] = [("model.onnx", onnx), ("labels.txt", labels)]
        switch target.platform {
        case "DockerFile":
            let manifest = Manifest(projectId: projectID.uuidString.lowercased(), iterationId: iterationID.uuidString.lowercased(),
                                    classificationType: head.kind == .multiclass ? "Multiclass" : "Multilabel",
                                    backbone: head.backbone, inputSize: head.inputSize, framing: head.framing.rawValue,
                                    opset: target.opset.rawValue, tags: tags)
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
        var inputSize: Int, framing: String, opset: Int, tags: [TagInfo]
    }

    /// `preprocess.network_input`'s framing argument in the READMEs' examples: none for the
    /// default whole-image framing.
    private var framingArgument: String { head.framing == .whole ? "" : ", \"\(head.framing.rawValue)\"" }

    private func onnxReadme(_ target: ExportTarget) -> String {
        let size = head.inputSize
        let type = target.float16 ? "float16" : "float32"
        return """
        # Sightline export: \(target.flavor) model

        `model.onnx` is the whole classifier: the \(head.backbone) backbone, the trained head and
        its \(head.kind == .multiclass ? "softmax" : "sigmoids"), in ONNX opset \(target.opset.rawValue).\(target.float16 ? """

        Its weights are stored as float16 (half the size); the graph casts them, and the input,
        to float32 where they are used and casts the output back to float16, so probabilities
        agree with the server's to about 1e-3.
        """ : "")

        - Input `data`: \(type) `[N, 3, \(size), \(size)]`, RGB values 0–255. Prepare images as the
          server does: \(head.framing.inputDescription(size: size)). `preprocess.py` does exactly that with libvips
          (`pip install pyvips numpy`), giving the server's input to the bit. The model
          subtracts 127 and divides by 128 itself.
        - Output `probabilities`: \(type) `[N, \(tags.count)]`, in `labels.txt` order (one tag name per line).

        With onnxruntime:

            import onnxruntime, preprocess
            session = onnxruntime.InferenceSession("model.onnx")
            x = preprocess.network_input(open("picture.jpg", "rb").read(), \(size)\(framingArgument))\(target.float16 ? ".astype(\"float16\")" : "")
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
          Prepare images as the server does, \(head.framing.inputDescription(size: size))
          (`preprocess.network_input` gives the RGB image as
          NCHW; transpose to NHWC and reverse the channels). The model normalises itself.
        - Output `\(TensorFlowExporter.classifierOutputName):0`: float32 `[1, \(tags.count)]`, in `labels.txt` order.

            import numpy, tensorflow, preprocess
            graph = tensorflow.compat.v1.GraphDef()
            graph.ParseFromString(open("model.pb", "rb").read())
            x = preprocess.network_input(open("picture.jpg", "rb").read(), \(size)\(framingArgument)).transpose(0, 2, 3, 1)[..., ::-1]
            with tensorflow.compat.v1.Session() as s:
                tensorflow.import_graph_def(graph, name="")
                probabilities = s.run("loss:0", {"Placeholder:0": x})[0]

        Project \(projectID.uuidString.lowercased()), iteration \(iterationID.uuidString.lowercased()).

        """
    }

    private func tfLiteReadme() -> String {
        let size = head.inputSize
        return """
        # Sightline export: TensorFlow Lite model

        `model.tflite` is the whole classifier as a TFLite FlatBuffer (schema 3): the \(head.backbone)
        backbone, the trained head and its \(head.kind == .multiclass ? "softmax" : "sigmoids"), in float32.

        - Input (`\(TFLiteExporter.inputName)`): float32 `[1, \(size), \(size), 3]`, NHWC, **BGR** values 0–255.
          Prepare images as the server does, \(head.framing.inputDescription(size: size))
          (`preprocess.network_input` gives the RGB image as NCHW; transpose to NHWC and
          reverse the channels). The model normalises itself.
        - Output (`\(TFLiteExporter.classifierOutputName)`): float32 `[1, \(tags.count)]`, in `labels.txt` order.

            import numpy, tensorflow, preprocess
            interpreter = tensorflow.lite.Interpreter(model_path="model.tflite")
            interpreter.allocate_tensors()
            x = preprocess.network_input(open("picture.jpg", "rb").read(), \(size)\(framingArgument)).transpose(0, 2, 3, 1)[..., ::-1]
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], numpy.ascontiguousarray(x))
            interpreter.invoke()
            probabilities = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]

        Project \(projectID.uuidString.lowercased()), iteration \(iterationID.uuidString.lowercased()).

        """
    }

    private func coreMLReadme() -> String {
        let size = head.inputSize
        return """
        # Sightline export: Core ML model

        `model.mlmodel` is the whole classifier as a Core ML `NeuralNetworkClassifier`
        (specification version 4: iOS 13, macOS 10.15 and later): the \(head.backbone) backbone,
        the trained head and its \(head.kind == .multiclass ? "softmax" : "sigmoids").

        - Input `\(CoreMLExporter.inputName)`: an image, \(size)×\(size), RGB. Give it \(head.framing.inputDescription(size: size))\(head.framing == .whole
            ? "\n  (Vision's `VNCoreMLRequest` with `imageCropAndScaleOption = .scaleFill` does that)"
            : "\n  (crop that square yourself: Vision's `.centerCrop` takes the whole shorter side)");
          the model normalises the pixels itself.
        - Outputs `\(CoreMLExporter.classifierOutputName)` (tag name → probability) and `\(CoreMLExporter.classLabelName)` (the most probable tag).

        Xcode compiles it as it is (`xcrun coremlcompiler compile model.mlmodel .`); `labels.txt` lists the
        tags in the model's order.

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
          the server does (\(head.framing.inputDescription(size: size)):
          `preprocess.network_input`, which gives 0–255)
          and divide by 255. The model scales back, subtracts 127 and divides by 128 itself.
        - Output `probabilities`: float32 `[1, \(tags.count)]`, in `labels.txt` order.

        With OpenVINO's Python runtime:

            import openvino, preprocess
            model = openvino.Core().compile_model("model.xml", "CPU")
            x = preprocess.network_input(open("picture.jpg", "rb").read(), \(size)\(framingArgument)) / 255
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
