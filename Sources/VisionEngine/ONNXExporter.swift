import Foundation

/// The ONNX operator sets an export can target (Custom Vision's `ONNX10`, `ONNX12` flavors).
public enum ONNXOpset: Int, Sendable, CaseIterable {
    case v10 = 10, v12 = 12

    /// The IR version of the ONNX release that introduced the opset (1.5, 1.7).
    var irVersion: Int { self == .v10 ? 5 : 7 }
}

public enum ExportError: Error, Equatable, CustomStringConvertible {
    case incompatibleHead(String)
    public var description: String {
        switch self { case .incompatibleHead(let why): "the model cannot be exported: \(why)" }
    }
}

/// Writes a whole classifier — preprocessing normalisation, the EfficientNet-Lite backbone
/// with BatchNorm folded, the trained head and its activation — as one ONNX model that
/// predicts what the service predicts.
///
/// Input `data`: float32 [N, 3, S, S] (float16 with `float16`), RGB 0–255, the image
/// framed and resized to the domain's input size S. Output `probabilities`: [N, tags], in
/// `labels.txt` order.
public enum ONNXExporter {
    public static let inputName = "data"
    public static let outputName = "probabilities"

    public static func export(backbone net: EfficientNetLite, head: ClassifierHead, labels: [String],
                              opset: ONNXOpset, producerVersion: String, float16: Bool = false) throws -> Data {
        // The head's own input size: heads trained at other sizes (detection's 416) export too.
        let size = head.inputSize
        try ExportChecks.classifier(head, on: net, labels: labels)

        var g = ONNXGraph(name: "sightline_\(net.variant.rawValue.replacingOccurrences(of: "-", with: "_"))")
        g.inputs = [.init(name: inputName, dims: [.symbol("N"), .size(3), .size(size), .size(size)],
                          doc: "RGB 0-255, \(head.framing.inputDescription(size: size))")]
        g.outputs = [.init(name: outputName, dims: [.symbol("N"), .size(labels.count)],
                           doc: head.kind == .multiclass ? "softmax over tags, in labels.txt order" : "one sigmoid per tag, in labels.txt order")]

        var x = addBackbone(&g, net, size: size, opset: opset).head
        x = g.node("GlobalAveragePool", [x])
        x = g.node("Flatten", [x], [.int("axis", 1)], output: "features")

        // The head: sqrt power normalisation, standardisation, a dense layer, the activation.
        x = g.node("Relu", [x])
        x = g.node("Sqrt", [x])
        x = g.node("Sub", [x, g.constant("feature_mean", dims: [head.dimension], head.featureMean)])
        x = g.node("Mul", [x, g.constant("feature_scale", dims: [head.dimension], head.featureScale)])
        x = g.node("Gemm", [x, g.constant("head_w", dims: [labels.count, head.dimension], head.weights),
                            g.constant("head_b", dims: [labels.count], head.bias)], [.int("transB", 1)], output: "scores")
        switch head.kind {
        case .multiclass: g.node("Softmax", [x], [.int("axis", 1)], output: outputName)
        case .multilabel: g.node("Sigmoid", [x], output: outputName)
        }

        let model = ONNXGraph.Model(
            irVersion: opset.irVersion, opset: opset.rawValue, producerName: "Sightline", producerVersion: producerVersion,
            doc: "Sightline \(head.kind.rawValue) classifier on \(net.variant.rawValue). Input 'data': \(float16 ? "float16" : "float32") [N,3,\(size),\(size)] RGB 0-255 "
                + "(\(head.framing.inputDescription(size: size))); output 'probabilities' in labels.txt order.",
            metadata: [("Image.BitmapPixelFormat", "Rgb8"), ("Image.ColorSpaceGamma", "SRGB"),
                       ("Image.NominalPixelRange", "NominalRange_0_255"), ("sightline.classificationType", head.kind == .multiclass ? "Multiclass" : "Multilabel"),
                       ("sightline.labels", labels.joined(separator: "\n"))])
        // OnnxFloat16: float16 weights, input and output.
        return Data((float16 ? g.halfPrecision() : g).encoded(model))
    }

    public static let detectorOutputName = "model_outputs0"

    /// Writes a detector in Custom Vision's compact grid format: input `data` float32
    /// [1, 3, 416, 416] RGB 0–255 (the whole image resized, aspect not kept); output
    /// [1, 5·(5+C), 13, 13] holding, per anchor a and channel a·(5+C)+k, σ(tx), σ(ty), tw,
    /// th, the objectness logit and the class logits. Decoding and NMS are the client's.
    public static func exportDetector(backbone net: EfficientNetLite, head: DetectorHead, labels: [String],
                                      opset: ONNXOpset, producerVersion: String, float16: Bool = false) throws -> Data {
        let size = head.inputSize
        try ExportChecks.detector(head, on: net, labels: labels)
        // ONNX detectors are Custom Vision's compact format only.
        guard size == DetectionGrid.inputSize else {
            throw ExportError.incompatibleHead("the compact detection format takes 416-pixel input, not \(size)")
        }
        let outputs = head.outputs, cells = DetectionGrid.cells
        var g = ONNXGraph(name: "sightline_detector_\(net.variant.rawValue.replacingOccurrences(of: "-", with: "_"))")
        g.inputs = [.init(name: inputName, dims: [.size(1), .size(3), .size(size), .size(size)],
                          doc: "RGB 0-255, the whole image resized (bicubic, aspect not kept) to \(size)x\(size)")]
        g.outputs = [.init(name: detectorOutputName, dims: [.size(1), .size(outputs), .size(cells), .size(cells)],
                           doc: "per anchor a: channels a*(5+C)+k = sigmoid(tx), sigmoid(ty), tw, th, objectness logit, class logits")]
        let taps = addBackbone(&g, net, size: size, opset: opset)
        let fine = g.node("SpaceToDepth", [taps.stride16], [.int("blocksize", 2)])
        var x = g.node("Concat", [taps.head, fine], [.int("axis", 1)], output: "head_input")
        x = g.node("Conv", [x, g.constant("det1_w", dims: [head.width, head.inputChannels, 1, 1], head.w1),
                            g.constant("det1_b", dims: [head.width], head.b1)], [.ints("kernel_shape", [1, 1])])
        x = g.node("Relu", [x])
        x = g.node("Conv", [x, g.constant("det2_w", dims: [head.width, head.width, 3, 3], head.w2),
                            g.constant("det2_b", dims: [head.width], head.b2)],
                   [.ints("kernel_shape", [3, 3]), .ints("pads", [1, 1, 1, 1])])
        x = g.node("Relu", [x])
        let raw = g.node("Conv", [x, g.constant("det3_w", dims: [outputs, head.width, 1, 1], head.w3),
                                  g.constant("det3_b", dims: [outputs], head.b3)], [.ints("kernel_shape", [1, 1])], output: "raw_outputs")
        // σ on the centre offsets only: raw + m·(σ(raw) − raw), m = 1 on tx and ty.
        let mask = DetectionGrid.offsetMask(classes: head.classes)
        let squashed = g.node("Sigmoid", [raw])
        let delta = g.node("Sub", [squashed, raw])
        let maskName = g.constant("offset_mask", dims: [1, outputs, 1, 1], mask)
        let masked = g.node("Mul", [delta, maskName])
        g.node("Add", [raw, masked], output: detectorOutputName)

        let anchors = DetectionGrid.anchors.map { "\($0.w),\($0.h)" }.joined(separator: ";")
        let model = ONNXGraph.Model(
            irVersion: opset.irVersion, opset: opset.rawValue, producerName: "Sightline", producerVersion: producerVersion,
            doc: "Sightline object detector on \(net.variant.rawValue), Custom Vision compact grid format (13x13, 5 anchors).",
            metadata: [("Image.BitmapPixelFormat", "Rgb8"), ("Image.ColorSpaceGamma", "SRGB"),
                       ("Image.NominalPixelRange", "NominalRange_0_255"), ("sightline.domainType", "ObjectDetection"),
                       ("sightline.anchors", anchors), ("sightline.labels", labels.joined(separator: "\n"))])
        // OnnxFloat16: float16 weights, input and output.
        return Data((float16 ? g.halfPrecision() : g).encoded(model))
    }

    /// The normalisation and the backbone up to the head convolution; returns the names
    /// of the stride-16 stage's output and the head convolution's (ReLU6) output.
    static func addBackbone(_ g: inout ONNXGraph, _ net: EfficientNetLite, size: Int, opset: ONNXOpset) -> (stride16: String, head: String) {
        // (x − 127) / 128, exactly as the service's preprocessing (1/128 is exact in binary).
        var x = g.node("Sub", [inputName, g.constant("input_mean", dims: [], [127])])
        x = g.node("Mul", [x, g.constant("input_scale", dims: [], [1.0 / 128.0])])

        let clip: (inout ONNXGraph, String) -> String = { g, x in
            switch opset {
            case .v10: return g.node("Clip", [x], [.float("min", 0), .float("max", 6)])
            case .v12: return g.node("Clip", [x, "relu6_min", "relu6_max"])
            }
        }
        if opset == .v12 {
            g.constant("relu6_min", dims: [], [0])
            g.constant("relu6_max", dims: [], [6])
        }

        var spatial = size
        var layer = 0
        // The engine keeps weights in ONNX's own [cout][cin/group][kh][kw] layout.
        func conv(_ c: EfficientNetLite.Conv, _ input: String, stride: Int, relu6: Bool) -> String {
            let depthwise = c.depthwise
            layer += 1
            let pad = SamePadding(input: spatial, kernel: c.k, stride: stride)
            spatial = pad.output
            let w = g.constant("conv\(layer)_w", dims: [c.cout, depthwise ? 1 : c.cin, c.k, c.k], c.weights)
            let b = g.constant("conv\(layer)_b", dims: [c.cout], c.bias)
            var attrs: [ONNXGraph.Attribute] = [.ints("kernel_shape", [c.k, c.k]), .ints("strides", [stride, stride]),
                                                .ints("pads", [pad.before, pad.before, pad.after, pad.after])]
            if depthwise { attrs.append(.int("group", c.groups)) }
            let y = g.node("Conv", [input, w, b], attrs)
            return relu6 ? clip(&g, y) : y
        }

        var stride16 = ""
        x = conv(net.stem, x, stride: 2, relu6: true)
        for block in net.blocks {
            let shortcut = x
            if let e = block.expand { x = conv(e, x, stride: 1, relu6: true) }
            x = conv(block.depthwise, x, stride: block.stride, relu6: true)
            x = conv(block.project, x, stride: 1, relu6: false)
            if block.residual { x = g.node("Add", [x, shortcut]) }
            if block.stage == 4 { stride16 = x }
        }
        x = conv(net.head, x, stride: 1, relu6: true)
        return (stride16, x)
    }
}
