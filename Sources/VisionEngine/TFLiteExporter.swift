import Foundation

/// Writes classifiers and detectors as TFLite models (`model.tflite`) in Custom Vision's
/// TFLite contract: one float32 input [1, S, S, 3], NHWC, **BGR** 0–255, one output — the
/// tag probabilities [1, tags] for a classifier, the grid [1, n, n, 5·(5+C)] for a
/// detector. BGR is folded into the stem's weights, the normalisation is done by ops, and
/// every ReLU6 is fused into its convolution.
public enum TFLiteExporter {
    public static let inputName = "Placeholder"
    public static let classifierOutputName = "loss"

    public static func export(backbone net: EfficientNetLite, head: ClassifierHead, labels: [String]) throws -> Data {
        let size = head.inputSize
        try ExportChecks.classifier(head, on: net, labels: labels)
        var g = TFLiteGraph()
        let d = head.dimension, tags = labels.count
        var x = addBackbone(&g, net, size: size).head
        x = g.op(.mean, [x, g.constant("pool_axes", int32: [1, 2], shape: [2])], options: .mean, name: "features", shape: [1, d])
        // The head: sqrt power normalisation, standardisation, a dense layer, the activation.
        x = g.op(.relu, [x], options: nil, name: "head/relu", shape: [1, d])
        x = g.op(.sqrt, [x], options: nil, name: "head/sqrt", shape: [1, d])
        x = g.op(.sub, [x, g.constant("feature_mean", head.featureMean, shape: [d])], options: .sub, name: "head/centred", shape: [1, d])
        x = g.op(.mul, [x, g.constant("feature_scale", head.featureScale, shape: [d])], options: .mul, name: "head/standardised", shape: [1, d])
        x = g.op(.fullyConnected, [x, g.constant("head_w", head.weights, shape: [tags, d]), g.constant("head_b", head.bias, shape: [tags])],
                 options: .fullyConnected, name: "scores", shape: [1, tags])
        g.outputs = [head.kind == .multiclass
            ? g.op(.softmax, [x], options: .softmax, name: classifierOutputName, shape: [1, tags])
            : g.op(.logistic, [x], options: nil, name: classifierOutputName, shape: [1, tags])]
        return g.encoded(description: "Sightline \(head.kind.rawValue) classifier on \(net.variant.rawValue); input NHWC BGR 0-255, "
                         + "\(head.framing.inputDescription(size: size)); output in labels.txt order")
    }

    public static func exportDetector(backbone net: EfficientNetLite, head: DetectorHead, labels: [String]) throws -> Data {
        let size = head.inputSize
        try ExportChecks.detector(head, on: net, labels: labels)
        var g = TFLiteGraph()
        let taps = addBackbone(&g, net, size: size)
        let s16 = g.shape(taps.stride16), n = g.shape(taps.head)[1]
        // NHWC SpaceToDepth orders channels (dy·2 + dx)·C + c, as the server's head input.
        let fine = g.op(.spaceToDepth, [taps.stride16], options: .spaceToDepth(block: 2), name: "detector/fine", shape: [1, n, n, s16[3] * 4])
        var x = g.op(.concatenation, [taps.head, fine], options: .concatenation(axis: 3), name: "detector/input",
                     shape: [1, n, n, head.inputChannels])
        x = conv(&g, x, head.w1, head.b1, cout: head.width, cin: head.inputChannels, k: 1, stride: 1, activation: .relu, name: "detector/conv1")
        x = conv(&g, x, head.w2, head.b2, cout: head.width, cin: head.width, k: 3, stride: 1, activation: .relu, name: "detector/conv2")
        let raw = conv(&g, x, head.w3, head.b3, cout: head.outputs, cin: head.width, k: 1, stride: 1, activation: .none, name: "detector/raw")
        // σ on the centre offsets only: raw + m·(σ(raw) − raw), m = 1 on tx and ty.
        let grid = [1, n, n, head.outputs]
        let sigma = g.op(.logistic, [raw], options: nil, name: "detector/sigmoid", shape: grid)
        let delta = g.op(.sub, [sigma, raw], options: .sub, name: "detector/delta", shape: grid)
        let masked = g.op(.mul, [delta, g.constant("detector/offset_mask", DetectionGrid.offsetMask(classes: head.classes), shape: [head.outputs])],
                          options: .mul, name: "detector/masked", shape: grid)
        g.outputs = [g.op(.add, [raw, masked], options: .add, name: ONNXExporter.detectorOutputName, shape: grid)]
        return g.encoded(description: "Sightline object detector on \(net.variant.rawValue); input NHWC BGR 0-255, the whole image "
                         + "resized to \(size)x\(size); output the \(n)x\(n) grid, 5 anchors x (tx, ty, tw, th, objectness, tags)")
    }

    /// A convolution from the engine's [cout][cin/group][kh][kw] weights: TFLite wants
    /// [cout][kh][kw][cin] (a depthwise one [1][kh][kw][channels]); SAME padding is the
    /// engine's (the smaller half first). `bgr` reverses the input channels (the stem).
    static func conv(_ g: inout TFLiteGraph, _ input: Int, _ w: [Float], _ b: [Float], cout: Int, cin: Int, k: Int, stride: Int,
                     depthwise: Bool = false, bgr: Bool = false, activation: TFLiteGraph.Activation, name: String) -> Int {
        let per = depthwise ? 1 : cin
        var ohwi = [Float](repeating: 0, count: w.count)
        for o in 0..<cout {
            for i in 0..<per {
                for y in 0..<k {
                    for x in 0..<k {
                        let src = ((o * per + (bgr ? per - 1 - i : i)) * k + y) * k + x
                        let dst = depthwise ? (y * k + x) * cout + o : ((o * k + y) * k + x) * per + i
                        ohwi[dst] = w[src]
                    }
                }
            }
        }
        let filter = g.constant(name + "/weights", ohwi, shape: depthwise ? [1, k, k, cout] : [cout, k, k, cin])
        let bias = g.constant(name + "/bias", b, shape: [cout])
        let inShape = g.shape(input)
        let out = [1, (inShape[1] + stride - 1) / stride, (inShape[2] + stride - 1) / stride, cout]
        return g.op(depthwise ? .depthwiseConv2D : .conv2D, [input, filter, bias],
                    options: depthwise ? .depthwise(stride: stride, activation: activation) : .conv(stride: stride, activation: activation),
                    name: name, shape: out)
    }

    /// The BGR 0–255 input, the service's (x − 127) / 128, and the backbone up to the head
    /// convolution; returns the stride-16 stage's output and the head convolution's (ReLU6).
    static func addBackbone(_ g: inout TFLiteGraph, _ net: EfficientNetLite, size: Int) -> (stride16: Int, head: Int) {
        let shape = [1, size, size, 3]
        var x = g.input(inputName, shape: shape)
        x = g.op(.sub, [x, g.constant("input/offset", [127], shape: [1])], options: .sub, name: "input/centred", shape: shape)
        x = g.op(.mul, [x, g.constant("input/scale", [1.0 / 128.0], shape: [1])], options: .mul, name: "input/normalised", shape: shape)
        func block(_ c: EfficientNetLite.Conv, _ input: Int, stride: Int, relu6: Bool, name: String, bgr: Bool = false) -> Int {
            conv(&g, input, c.weights, c.bias, cout: c.cout, cin: c.cin, k: c.k, stride: stride, depthwise: c.depthwise, bgr: bgr,
                 activation: relu6 ? .relu6 : .none, name: name)
        }
        var stride16 = -1
        x = block(net.stem, x, stride: 2, relu6: true, name: "stem", bgr: true)
        for (i, b) in net.blocks.enumerated() {
            let shortcut = x
            if let e = b.expand { x = block(e, x, stride: 1, relu6: true, name: "block\(i)/expand") }
            x = block(b.depthwise, x, stride: b.stride, relu6: true, name: "block\(i)/depthwise")
            x = block(b.project, x, stride: 1, relu6: false, name: "block\(i)/project")
            if b.residual { x = g.op(.add, [x, shortcut], options: .add, name: "block\(i)/add", shape: g.shape(x)) }
            if b.stage == 4 { stride16 = x }
        }
        x = block(net.head, x, stride: 1, relu6: true, name: "head_conv")
        return (stride16, x)
    }
}
