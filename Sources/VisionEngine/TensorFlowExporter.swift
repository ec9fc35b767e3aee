import Foundation

/// Writes classifiers and detectors as frozen TensorFlow graphs (`model.pb`) in Custom
/// Vision's TensorFlow contract: one `Placeholder` input of static shape [1, S, S, 3], NHWC,
/// **BGR** 0–255, and one sink node — `loss` (the tag probabilities [1, tags]) for a
/// classifier, `model_outputs0` (the grid [1, n, n, 5·(5+C)]) for a detector. The BGR order
/// is folded into the first convolution's weights; the normalisation is done by ops.
public enum TensorFlowExporter {
    public static let inputName = "Placeholder"
    public static let classifierOutputName = "loss"

    public static func export(backbone net: EfficientNetLite, head: ClassifierHead, labels: [String]) throws -> Data {
        let size = head.inputSize
        try ExportChecks.classifier(head, on: net, labels: labels)
        var g = TensorFlowGraph()
        let d = head.dimension, tags = labels.count
        var x = addBackbone(&g, net, size: size).head
        x = g.node("Mean", [x, g.constant(int32: [1, 2], shape: [2])],
                   [("T", .type(.float)), ("Tidx", .type(.int32)), ("keep_dims", .bool(false))])
        // The head: sqrt power normalisation, standardisation, a dense layer, the activation.
        x = g.float("Relu", [x])
        x = g.float("Sqrt", [x])
        x = g.float("Sub", [x, g.constant(head.featureMean, shape: [d])])
        x = g.float("Mul", [x, g.constant(head.featureScale, shape: [d])])
        x = g.float("MatMul", [x, g.constant(head.weights, shape: [tags, d])], [("transpose_a", .bool(false)), ("transpose_b", .bool(true))])
        x = g.float("BiasAdd", [x, g.constant(head.bias, shape: [tags])], [("data_format", .string("NHWC"))])
        g.float(head.kind == .multiclass ? "Softmax" : "Sigmoid", [x], name: classifierOutputName)
        return g.encoded()
    }

    public static func exportDetector(backbone net: EfficientNetLite, head: DetectorHead, labels: [String]) throws -> Data {
        let size = head.inputSize
        try ExportChecks.detector(head, on: net, labels: labels)
        var g = TensorFlowGraph()
        let taps = addBackbone(&g, net, size: size)
        // NHWC SpaceToDepth orders channels (dy·2 + dx)·C + c, as the server's head input.
        let fine = g.float("SpaceToDepth", [taps.stride16], [("block_size", .int(2)), ("data_format", .string("NHWC"))])
        var x = g.node("ConcatV2", [taps.head, fine, g.constant(int32: [3], shape: [])],
                       [("T", .type(.float)), ("N", .int(2)), ("Tidx", .type(.int32))])
        x = g.float("Relu", [conv(&g, x, head.w1, head.b1, cout: head.width, cin: head.inputChannels, k: 1, stride: 1)])
        x = g.float("Relu", [conv(&g, x, head.w2, head.b2, cout: head.width, cin: head.width, k: 3, stride: 1)])
        let raw = conv(&g, x, head.w3, head.b3, cout: head.outputs, cin: head.width, k: 1, stride: 1)
        // σ on the centre offsets only: raw + m·(σ(raw) − raw), m = 1 on tx and ty.
        let mask = DetectionGrid.offsetMask(classes: head.classes)
        let delta = g.float("Sub", [g.float("Sigmoid", [raw]), raw])
        let masked = g.float("Mul", [delta, g.constant(mask, shape: [head.outputs])])
        g.float("AddV2", [raw, masked], name: ONNXExporter.detectorOutputName)
        return g.encoded()
    }

    /// A SavedModel (`saved_model.pb`) around a frozen graph: one meta graph tagged `serve`
    /// whose `serving_default` signature maps the Placeholder to the sink node. The graph
    /// holds every weight as a constant, so the SavedModel has no variables to restore.
    /// Field numbers are TensorFlow's saved_model.proto and meta_graph.proto.
    public static func savedModel(graph: Data, inputShape: [Int], output: String, outputShape: [Int]) -> Data {
        func tensorInfo(_ p: inout ProtobufWriter, _ name: String, _ shape: [Int]) {
            p.string(1, name + ":0")
            p.int(2, TensorFlowGraph.DataType.float.rawValue)
            p.message(3) { s in for d in shape { s.message(2) { $0.int(1, Int64(d)) } } }
        }
        var m = ProtobufWriter()
        m.int(1, 1)   // saved_model_schema_version
        m.message(2) { meta in
            meta.message(1) { $0.string(4, "serve") }   // meta_info_def.tags
            meta.bytes(2, Array(graph))                  // graph_def
            meta.message(5) { entry in                   // signature_def["serving_default"]
                entry.string(1, "serving_default")
                entry.message(2) { sig in
                    sig.message(1) { e in e.string(1, inputName); e.message(2) { tensorInfo(&$0, inputName, inputShape) } }
                    sig.message(2) { e in e.string(1, output); e.message(2) { tensorInfo(&$0, output, outputShape) } }
                    sig.string(3, "tensorflow/serving/predict")
                }
            }
        }
        return Data(m.bytes)
    }

    /// A convolution from the engine's [cout][cin/group][kh][kw] weights: TensorFlow wants
    /// [kh][kw][cin][cout] (a depthwise one [kh][kw][channels][1]); SAME padding is the
    /// engine's (the smaller half first). `bgr` reverses the input channels (the stem).
    static func conv(_ g: inout TensorFlowGraph, _ input: String, _ w: [Float], _ b: [Float], cout: Int, cin: Int, k: Int,
                     stride: Int, depthwise: Bool = false, bgr: Bool = false) -> String {
        let per = depthwise ? 1 : cin
        var hwio = [Float](repeating: 0, count: w.count)
        for o in 0..<cout {
            for i in 0..<per {
                for y in 0..<k {
                    for x in 0..<k {
                        let src = ((o * per + (bgr ? per - 1 - i : i)) * k + y) * k + x
                        let dst = depthwise ? (y * k + x) * cout + o : ((y * k + x) * per + i) * cout + o
                        hwio[dst] = w[src]
                    }
                }
            }
        }
        let attrs: [(String, TensorFlowGraph.Attribute)] = [("strides", .ints([1, stride, stride, 1])), ("padding", .string("SAME")),
                                                            ("data_format", .string("NHWC")), ("dilations", .ints([1, 1, 1, 1]))]
        let filter = g.constant(hwio, shape: depthwise ? [k, k, cout, 1] : [k, k, cin, cout])
        let y = g.float(depthwise ? "DepthwiseConv2dNative" : "Conv2D", [input, filter], attrs)
        return g.float("BiasAdd", [y, g.constant(b, shape: [cout])], [("data_format", .string("NHWC"))])
    }

    /// The BGR 0–255 input, the service's (x − 127) / 128, and the backbone up to the head
    /// convolution; returns the stride-16 stage's output and the head convolution's (ReLU6).
    static func addBackbone(_ g: inout TensorFlowGraph, _ net: EfficientNetLite, size: Int) -> (stride16: String, head: String) {
        var x = g.placeholder(inputName, shape: [1, size, size, 3])
        x = g.float("Sub", [x, g.constant([127], shape: [])])
        x = g.float("Mul", [x, g.constant([1.0 / 128.0], shape: [])])
        func block(_ c: EfficientNetLite.Conv, _ input: String, stride: Int, relu6: Bool, bgr: Bool = false) -> String {
            let y = conv(&g, input, c.weights, c.bias, cout: c.cout, cin: c.cin, k: c.k, stride: stride, depthwise: c.depthwise, bgr: bgr)
            return relu6 ? g.float("Relu6", [y]) : y
        }
        var stride16 = ""
        x = block(net.stem, x, stride: 2, relu6: true, bgr: true)
        for b in net.blocks {
            let shortcut = x
            if let e = b.expand { x = block(e, x, stride: 1, relu6: true) }
            x = block(b.depthwise, x, stride: b.stride, relu6: true)
            x = block(b.project, x, stride: 1, relu6: false)
            if b.residual { x = g.float("AddV2", [x, shortcut]) }
            if b.stage == 4 { stride16 = x }
        }
        x = block(net.head, x, stride: 1, relu6: true)
        return (stride16, x)
    }
}
