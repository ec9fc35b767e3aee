import Foundation

/// Writes classifiers and detectors as Core ML models (`model.mlmodel`, a `Model`
/// protobuf, specification version 4) in Custom Vision's Core ML contract: one image input
/// `data` (width × height, RGB), normalised by the model's own preprocessing. A classifier
/// is a `NeuralNetworkClassifier` whose outputs are `loss` (tag name → probability) and
/// `classLabel`; a detector is a `NeuralNetwork` whose output `model_outputs0` is the grid
/// [5·(5+C), n, n] (CHW). Field numbers are those of Core ML's public Model.proto,
/// FeatureTypes.proto and NeuralNetwork.proto.
public enum CoreMLExporter {
    public static let inputName = "data"
    public static let classifierOutputName = "loss"
    public static let classLabelName = "classLabel"
    static let specificationVersion: Int64 = 4   // the clip layer (ReLU6) needs Core ML 3

    public static func export(backbone net: EfficientNetLite, head: ClassifierHead, labels: [String]) throws -> Data {
        let size = head.inputSize
        try ExportChecks.classifier(head, on: net, labels: labels)
        var layers = Layers()
        var x = addBackbone(&layers, net).head
        // pooling: AVERAGE, VALID padding (none), global
        x = layers.add("pool", [x]) { $0.message(120) { p in p.int(1, 1); p.message(30) { _ in }; p.int(60, 1) } }
        // The head: sqrt power normalisation, standardisation as one scale-and-bias, a dense layer, the activation.
        x = layers.add("head_relu", [x]) { $0.message(130) { $0.message(10) { _ in } } }        // activation: ReLU
        // unary SQRT of scale·x + shift: scale 1 and shift 0 written out (proto3 would read absent as 0).
        x = layers.add("head_sqrt", [x]) { $0.message(220) { u in u.int(1, 0); u.float(2, 1); u.float(3, 1e-6); u.float(4, 0); u.float(5, 1) } }
        let d = head.dimension
        let shift = zip(head.featureMean, head.featureScale).map { -$0 * $1 }
        x = layers.add("head_standardise", [x]) { l in
            l.message(245) { s in                                                               // scale
                s.int(1, Int64(d)); s.message(2) { $0.rawFloats(1, head.featureScale) }
                s.int(3, 1); s.int(4, Int64(d)); s.message(5) { $0.rawFloats(1, shift) }
            }
        }
        x = layers.add("scores", [x]) { l in
            l.message(140) { p in                                                               // innerProduct
                p.int(1, Int64(d)); p.int(2, Int64(labels.count)); p.int(10, 1)
                p.message(20) { $0.rawFloats(1, head.weights) }; p.message(21) { $0.rawFloats(1, head.bias) }
            }
        }
        switch head.kind {
        case .multiclass: layers.add("probabilities", [x], output: classifierOutputName) { $0.message(175) { _ in } }   // softmax
        case .multilabel: layers.add("probabilities", [x], output: classifierOutputName) { $0.message(130) { $0.message(40) { _ in } } }
        }

        var m = ProtobufWriter()
        m.int(1, specificationVersion)
        m.message(2) { d in                                                                     // ModelDescription
            d.message(1) { imageInput(&$0, size: size) }
            d.message(10) { f in                                                                // output: the probabilities
                f.string(1, classifierOutputName)
                f.string(2, "Probability of each tag")
                f.message(3) { $0.message(6) { $0.message(2) { _ in } } }                       // dictionary, string keys
            }
            d.message(10) { f in
                f.string(1, classLabelName)
                f.string(2, "The most probable tag")
                f.message(3) { $0.message(3) { _ in } }                                         // string
            }
            d.string(11, classLabelName)                                                        // predictedFeatureName
            d.string(12, classifierOutputName)                                                  // predictedProbabilitiesName
            metadata(&d, "Sightline \(head.kind.rawValue) classifier on \(net.variant.rawValue); input "
                     + head.framing.inputDescription(size: size))
        }
        m.message(403) { c in                                                                   // neuralNetworkClassifier
            for layer in layers.encoded { c.bytes(1, layer) }
            preprocessing(&c)
            c.message(100) { v in for l in labels { v.string(1, l) } }                          // stringClassLabels
            c.string(200, classifierOutputName)                                                 // labelProbabilityLayerName
        }
        return Data(m.bytes)
    }

    public static func exportDetector(backbone net: EfficientNetLite, head: DetectorHead, labels: [String]) throws -> Data {
        let size = head.inputSize
        try ExportChecks.detector(head, on: net, labels: labels)
        var layers = Layers()
        let (stride16, top) = addBackbone(&layers, net)
        // Space to depth as a 2×2, stride-2 convolution of one-hot weights (exact): output
        // channel (dy·2 + dx)·C + c is input channel c at offset (dy, dx), the server's order.
        let fc = net.blocks.last { $0.stage == 4 }!.project.cout
        var picks = [Float](repeating: 0, count: 4 * fc * fc * 4)
        for q in 0..<4 { for c in 0..<fc { picks[(((q * fc + c) * fc + c) * 2 + q / 2) * 2 + q % 2] = 1 } }
        let fine = layers.conv("detector_fine", stride16, picks, nil, cout: 4 * fc, cin: fc, k: 2, stride: 2, groups: 1, same: false)
        var x = layers.add("detector_input", [top, fine]) { $0.message(320) { _ in } }          // concat (channels)
        x = layers.conv("detector_conv1", x, head.w1, head.b1, cout: head.width, cin: head.inputChannels, k: 1, stride: 1, groups: 1)
        x = layers.add("detector_relu1", [x]) { $0.message(130) { $0.message(10) { _ in } } }
        x = layers.conv("detector_conv2", x, head.w2, head.b2, cout: head.width, cin: head.width, k: 3, stride: 1, groups: 1)
        x = layers.add("detector_relu2", [x]) { $0.message(130) { $0.message(10) { _ in } } }
        let raw = layers.conv("detector_raw", x, head.w3, head.b3, cout: head.outputs, cin: head.width, k: 1, stride: 1, groups: 1)
        // σ on the centre offsets only: (1 − m)·raw + m·σ(raw), m = 1 on tx and ty (exact for m in {0, 1}).
        let mask = DetectionGrid.offsetMask(classes: head.classes)
        let sigma = layers.add("detector_sigmoid", [raw]) { $0.message(130) { $0.message(40) { _ in } } }
        let kept = layers.scale("detector_kept", raw, mask.map { 1 - $0 })
        let squashed = layers.scale("detector_squashed", sigma, mask)
        layers.add("detector_output", [kept, squashed], output: ONNXExporter.detectorOutputName) { $0.message(230) { _ in } }   // add

        let n = DetectionGrid.cells(inputSize: size)
        var m = ProtobufWriter()
        m.int(1, specificationVersion)
        m.message(2) { d in
            d.message(1) { imageInput(&$0, size: size) }
            d.message(10) { f in
                f.string(1, ONNXExporter.detectorOutputName)
                f.string(2, "Per anchor a: channels a*(5+C)+k = sigmoid(tx), sigmoid(ty), tw, th, objectness logit, class logits")
                f.message(3) { t in t.message(5) { a in a.ints(1, [Int64(head.outputs), Int64(n), Int64(n)]); a.int(2, 65568) } }   // float32 multiArray
            }
            metadata(&d, "Sightline object detector on \(net.variant.rawValue); the whole image resized to \(size)x\(size); "
                     + "labels (one per line):\n" + labels.joined(separator: "\n"))
        }
        m.message(500) { nn in                                                                  // neuralNetwork
            for layer in layers.encoded { nn.bytes(1, layer) }
            preprocessing(&nn)
        }
        return Data(m.bytes)
    }

    /// FeatureDescription of the image input: RGB, width × height.
    static func imageInput(_ f: inout ProtobufWriter, size: Int) {
        f.string(1, inputName)
        f.string(2, "The image, RGB")
        f.message(3) { $0.message(4) { i in i.int(1, Int64(size)); i.int(2, Int64(size)); i.int(3, 20) } }   // imageType, RGB
    }

    static func metadata(_ d: inout ProtobufWriter, _ description: String) {
        d.message(100) { m in m.string(1, description); m.string(3, "Sightline") }
    }

    /// The service's (x − 127) / 128 on every channel, as Core ML's image scaler does it:
    /// x · (1/128) − 127/128, both exact in float32.
    static func preprocessing(_ nn: inout ProtobufWriter) {
        nn.message(2) { p in
            p.string(1, inputName)
            p.message(10) { s in s.float(10, 1.0 / 128); s.float(20, -127.0 / 128); s.float(21, -127.0 / 128); s.float(22, -127.0 / 128) }
        }
    }

    /// Encoded NeuralNetworkLayer messages, in order, each writing a fresh blob.
    struct Layers {
        private(set) var encoded: [[UInt8]] = []

        @discardableResult
        mutating func add(_ name: String, _ inputs: [String], output: String? = nil, _ params: (inout ProtobufWriter) -> Void) -> String {
            var l = ProtobufWriter()
            let out = output ?? name
            l.string(1, name)
            for i in inputs { l.string(2, i) }
            l.string(3, out)
            params(&l)
            encoded.append(l.bytes)
            return out
        }

        /// A convolution from the engine's [cout][cin/groups][kh][kw] weights (Core ML's own
        /// layout); `same`: SAME padding with the extra row and column at the bottom and
        /// right, the engine's.
        mutating func conv(_ name: String, _ input: String, _ w: [Float], _ b: [Float]?, cout: Int, cin: Int, k: Int, stride: Int,
                           groups: Int, same: Bool = true) -> String {
            add(name, [input]) { l in
                l.message(100) { c in
                    c.int(1, Int64(cout)); c.int(2, Int64(cin / groups)); c.int(10, Int64(groups))
                    c.ints(20, [Int64(k), Int64(k)]); c.ints(30, [Int64(stride), Int64(stride)]); c.ints(40, [1, 1])
                    if same { c.message(51) { $0.int(1, 0) } } else { c.message(50) { _ in } }   // BOTTOM_RIGHT_HEAVY / valid
                    c.int(70, b == nil ? 0 : 1)
                    c.message(90) { $0.rawFloats(1, w) }
                    if let b { c.message(91) { $0.rawFloats(1, b) } }
                }
            }
        }

        /// Per-channel multiplication.
        mutating func scale(_ name: String, _ input: String, _ factors: [Float]) -> String {
            add(name, [input]) { l in l.message(245) { s in s.int(1, Int64(factors.count)); s.message(2) { $0.rawFloats(1, factors) } } }
        }

        mutating func relu6(_ name: String, _ input: String) -> String {
            add(name, [input]) { l in l.message(660) { c in c.float(1, 0); c.float(2, 6) } }   // clip
        }
    }

    /// The backbone; returns the stride-16 stage's output and the head convolution's (ReLU6).
    static func addBackbone(_ layers: inout Layers, _ net: EfficientNetLite) -> (stride16: String, head: String) {
        func block(_ c: EfficientNetLite.Conv, _ input: String, stride: Int, relu6: Bool, name: String) -> String {
            let y = layers.conv(name, input, c.weights, c.bias, cout: c.cout, cin: c.cin, k: c.k, stride: stride, groups: c.groups)
            return relu6 ? layers.relu6(name + "_relu6", y) : y
        }
        var x = block(net.stem, inputName, stride: 2, relu6: true, name: "stem")
        var stride16 = ""
        for (i, b) in net.blocks.enumerated() {
            let shortcut = x
            if let e = b.expand { x = block(e, x, stride: 1, relu6: true, name: "block\(i)_expand") }
            x = block(b.depthwise, x, stride: b.stride, relu6: true, name: "block\(i)_depthwise")
            x = block(b.project, x, stride: 1, relu6: false, name: "block\(i)_project")
            if b.residual { x = layers.add("block\(i)_add", [x, shortcut]) { $0.message(230) { _ in } } }
            if b.stage == 4 { stride16 = x }
        }
        return (stride16, block(net.head, x, stride: 1, relu6: true, name: "head_conv"))
    }
}
