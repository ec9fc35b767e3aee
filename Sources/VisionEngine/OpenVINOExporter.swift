import Foundation

/// Writes classifiers and detectors as OpenVINO IR (`model.xml` + `model.bin`) in Custom
/// Vision's OpenVINO contract: input `data` float32 [1, 3, S, S], NCHW, RGB 0–1 (the same
/// prepared image as the ONNX export, divided by 255); the graph scales it back to 0–255
/// and normalises as the service does. Outputs as the ONNX export's: `probabilities`
/// [1, tags], or the detector's grid `model_outputs0` [1, 5·(5+C), n, n].
public enum OpenVINOExporter {
    public struct Files: Sendable {
        public var xml: Data
        public var weights: Data
    }

    public static func export(backbone net: EfficientNetLite, head: ClassifierHead, labels: [String]) throws -> Files {
        let size = head.inputSize
        try ExportChecks.classifier(head, on: net, labels: labels)
        var g = OpenVINOGraph()
        let features = addBackbone(&g, net, size: size).head
        let d = head.dimension, tags = labels.count
        var x = g.op("ReduceMean", [features, g.constant(int64: [2, 3], shape: [2])], [("keep_dims", "false")], shape: [1, d])
        // The head: sqrt power normalisation, standardisation, a dense layer, the activation.
        x = g.op("Relu", [x], shape: [1, d])
        x = g.op("Sqrt", [x], shape: [1, d])
        x = g.op("Subtract", [x, g.constant(head.featureMean, shape: [d])], [("auto_broadcast", "numpy")], shape: [1, d])
        x = g.op("Multiply", [x, g.constant(head.featureScale, shape: [d])], [("auto_broadcast", "numpy")], shape: [1, d])
        x = g.op("MatMul", [x, g.constant(head.weights, shape: [tags, d])], [("transpose_a", "false"), ("transpose_b", "true")],
                 shape: [1, tags])
        x = g.op("Add", [x, g.constant(head.bias, shape: [tags])], [("auto_broadcast", "numpy")], shape: [1, tags])
        let out = head.kind == .multiclass
            ? g.op("SoftMax", [x], [("axis", "1")], shape: [1, tags], version: "opset8", names: ONNXExporter.outputName)
            : g.op("Sigmoid", [x], shape: [1, tags], names: ONNXExporter.outputName)
        g.result(out, name: ONNXExporter.outputName)
        return Files(xml: Data(g.xml(name: "sightline_\(head.kind.rawValue)_\(net.variant.rawValue)").utf8), weights: g.weights)
    }

    public static func exportDetector(backbone net: EfficientNetLite, head: DetectorHead, labels: [String]) throws -> Files {
        let size = head.inputSize
        try ExportChecks.detector(head, on: net, labels: labels)
        var g = OpenVINOGraph()
        let taps = addBackbone(&g, net, size: size)
        let n = DetectionGrid.cells(inputSize: size), outputs = head.outputs, w = head.width
        let fineChannels = taps.stride16.shape[1] * 4
        // ONNX's SpaceToDepth order, (dy·2 + dx)·C + c, is OpenVINO's blocks_first.
        let fine = g.op("SpaceToDepth", [taps.stride16], [("block_size", "2"), ("mode", "blocks_first")], shape: [1, fineChannels, n, n])
        var x = g.op("Concat", [taps.head, fine], [("axis", "1")], shape: [1, head.inputChannels, n, n])
        func conv(_ input: OpenVINOGraph.Value, _ weights: [Float], _ bias: [Float], cout: Int, cin: Int, k: Int) -> OpenVINOGraph.Value {
            let pad = "\(k / 2), \(k / 2)"
            let y = g.op("Convolution", [input, g.constant(weights, shape: [cout, cin, k, k])],
                         [("strides", "1, 1"), ("dilations", "1, 1"), ("pads_begin", pad), ("pads_end", pad), ("auto_pad", "explicit")],
                         shape: [1, cout, n, n])
            return g.op("Add", [y, g.constant(bias, shape: [1, cout, 1, 1])], [("auto_broadcast", "numpy")], shape: [1, cout, n, n])
        }
        x = g.op("Relu", [conv(x, head.w1, head.b1, cout: w, cin: head.inputChannels, k: 1)], shape: [1, w, n, n])
        x = g.op("Relu", [conv(x, head.w2, head.b2, cout: w, cin: w, k: 3)], shape: [1, w, n, n])
        let raw = conv(x, head.w3, head.b3, cout: outputs, cin: w, k: 1)
        // σ on the centre offsets only: raw + m·(σ(raw) − raw), m = 1 on tx and ty.
        let mask = DetectionGrid.offsetMask(classes: head.classes)
        let shape = [1, outputs, n, n]
        let squashed = g.op("Sigmoid", [raw], shape: shape)
        let delta = g.op("Subtract", [squashed, raw], [("auto_broadcast", "numpy")], shape: shape)
        let masked = g.op("Multiply", [delta, g.constant(mask, shape: [1, outputs, 1, 1])], [("auto_broadcast", "numpy")], shape: shape)
        let out = g.op("Add", [raw, masked], [("auto_broadcast", "numpy")], shape: shape, names: ONNXExporter.detectorOutputName)
        g.result(out, name: ONNXExporter.detectorOutputName)
        return Files(xml: Data(g.xml(name: "sightline_detector_\(net.variant.rawValue)").utf8), weights: g.weights)
    }

    /// 0–1 input back to 0–255, the service's (x − 127) / 128, and the backbone up to the head
    /// convolution; returns the stride-16 stage's output and the head convolution's (ReLU6).
    static func addBackbone(_ g: inout OpenVINOGraph, _ net: EfficientNetLite, size: Int)
        -> (stride16: OpenVINOGraph.Value, head: OpenVINOGraph.Value) {
        let input = g.parameter(ONNXExporter.inputName, shape: [1, 3, size, size])
        let broadcast = [("auto_broadcast", "numpy")]
        var x = g.op("Multiply", [input, g.constant([255], shape: [])], broadcast, shape: input.shape)
        x = g.op("Subtract", [x, g.constant([127], shape: [])], broadcast, shape: input.shape)
        x = g.op("Multiply", [x, g.constant([1.0 / 128.0], shape: [])], broadcast, shape: input.shape)

        var spatial = size
        // The engine keeps weights in [cout][cin/group][kh][kw]; a depthwise kernel is OpenVINO's
        // GroupConvolution [groups][1][1][kh][kw], the same bytes.
        func conv(_ c: EfficientNetLite.Conv, _ input: OpenVINOGraph.Value, stride: Int, relu6: Bool) -> OpenVINOGraph.Value {
            let pad = SamePadding(input: spatial, kernel: c.k, stride: stride)
            spatial = pad.output
            let shape = [1, c.cout, spatial, spatial]
            let attrs = [("strides", "\(stride), \(stride)"), ("dilations", "1, 1"), ("pads_begin", "\(pad.before), \(pad.before)"),
                         ("pads_end", "\(pad.after), \(pad.after)"), ("auto_pad", "explicit")]
            var y = c.depthwise
                ? g.op("GroupConvolution", [input, g.constant(c.weights, shape: [c.cout, 1, 1, c.k, c.k])], attrs, shape: shape)
                : g.op("Convolution", [input, g.constant(c.weights, shape: [c.cout, c.cin, c.k, c.k])], attrs, shape: shape)
            y = g.op("Add", [y, g.constant(c.bias, shape: [1, c.cout, 1, 1])], broadcast, shape: shape)
            return relu6 ? g.op("Clamp", [y], [("min", "0"), ("max", "6")], shape: shape) : y
        }

        var stride16: OpenVINOGraph.Value?
        x = conv(net.stem, x, stride: 2, relu6: true)
        for block in net.blocks {
            let shortcut = x
            if let e = block.expand { x = conv(e, x, stride: 1, relu6: true) }
            x = conv(block.depthwise, x, stride: block.stride, relu6: true)
            x = conv(block.project, x, stride: 1, relu6: false)
            if block.residual { x = g.op("Add", [x, shortcut], broadcast, shape: x.shape) }
            if block.stage == 4 { stride16 = x }
        }
        x = conv(net.head, x, stride: 1, relu6: true)
        return (stride16!, x)
    }
}
