import Foundation

/// A trained detection head in inference form (BatchNorm folded into the convolutions):
/// 1×1 conv 1728→256, ReLU, 3×3 conv 256→256, ReLU, 1×1 conv 256→5·(5+C), on the
/// 13×13×1728 head input (`DetectionFeatures`). Serialises with what prediction needs.
public struct DetectorHead: Sendable, Equatable {
    public var backbone: String
    public var inputSize: Int
    public var tagIDs: [String]
    public var width: Int
    /// [width][inputChannels]
    public var w1: [Float], b1: [Float]
    /// [width][width][3][3] (OIHW)
    public var w2: [Float], b2: [Float]
    /// [outputs][width]
    public var w3: [Float], b3: [Float]

    public var classes: Int { tagIDs.count }
    public var outputs: Int { DetectionGrid.channels(classes: classes) }
    public var inputChannels: Int { w1.count / width }

    public init(backbone: String, inputSize: Int, tagIDs: [String], width: Int,
                w1: [Float], b1: [Float], w2: [Float], b2: [Float], w3: [Float], b3: [Float]) {
        self.backbone = backbone; self.inputSize = inputSize; self.tagIDs = tagIDs; self.width = width
        self.w1 = w1; self.b1 = b1; self.w2 = w2; self.b2 = b2; self.w3 = w3; self.b3 = b3
    }

    /// Raw outputs [cells][cells][outputs] (NHWC) for one head input [cells][cells][inputChannels].
    public func rawOutput(_ input: [Float]) -> [Float] {
        let cells = DetectionGrid.side(count: input.count, channels: inputChannels)
        let positions = cells * cells
        var a1 = Dense.apply(input, rows: positions, k: inputChannels, weights: w1, cols: width, bias: b1)
        for i in a1.indices { a1[i] = max(a1[i], 0) }
        let cols = Self.im2col3x3(a1, cells: cells, channels: width)
        var a2 = Dense.apply(cols, rows: positions, k: width * 9, weights: w2, cols: width, bias: b2)
        for i in a2.indices { a2[i] = max(a2[i], 0) }
        return Dense.apply(a2, rows: positions, k: width, weights: w3, cols: outputs, bias: b3)
    }

    public func detect(_ input: [Float]) -> [Detection] {
        DetectionGrid.decode(rawOutput(input), classes: classes)
    }

    /// Rows per output position of a 3×3, stride-1, pad-1 convolution, ordered (cin, ky, kx)
    /// to match OIHW weights.
    static func im2col3x3(_ x: [Float], cells: Int, channels c: Int) -> [Float] {
        var out = [Float](repeating: 0, count: cells * cells * c * 9)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<cells {
                    for xx in 0..<cells {
                        let row = (y * cells + xx) * c * 9
                        for ky in 0..<3 {
                            let sy = y + ky - 1
                            guard sy >= 0 && sy < cells else { continue }
                            for kx in 0..<3 {
                                let sx = xx + kx - 1
                                guard sx >= 0 && sx < cells else { continue }
                                let from = (sy * cells + sx) * c, tap = ky * 3 + kx
                                for ci in 0..<c { dst[row + ci * 9 + tap] = src[from + ci] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: serialisation: "SLDET1\n\0", 4-byte JSON length, JSON, then float32 payload.

    private struct Header: Codable {
        var kind = "detector", backbone: String, inputSize: Int, tagIDs: [String], width: Int, inputChannels: Int
        var format: String

        static func format(inputSize: Int) -> String {
            let n = DetectionGrid.cells(inputSize: inputSize)
            return "grid \(n)x\(n), 5 anchors; input: concat(head conv, space-to-depth(stride-16 map))"
        }
    }

    static let magic = Data("SLDET1\n\0".utf8)

    public static func isDetector(_ data: Data) -> Bool { data.count >= magic.count && data.prefix(magic.count) == magic }

    public func serialised() throws -> Data {
        try HeadFile.encode(magic: Self.magic, header: Header(backbone: backbone, inputSize: inputSize, tagIDs: tagIDs, width: width,
                                                              inputChannels: inputChannels, format: Header.format(inputSize: inputSize)),
                            arrays: [w1, b1, w2, b2, w3, b3])
    }

    public static func deserialise(_ data: Data) throws -> DetectorHead {
        let (h, arrays) = try HeadFile.decode(data, magic: magic, what: "detector") { (h: Header) -> [Int] in
            guard h.width > 0, h.width <= 4096, h.inputChannels > 0, h.inputChannels <= 1 << 16, !h.tagIDs.isEmpty,
                  h.inputSize % DetectionGrid.stride == 0, (320...1024).contains(h.inputSize) else {
                throw HeadError.corruptModel("implausible detector shape")
            }
            let outputs = DetectionGrid.channels(classes: h.tagIDs.count)
            return [h.width * h.inputChannels, h.width, h.width * h.width * 9, h.width, outputs * h.width, outputs]
        }
        return DetectorHead(backbone: h.backbone, inputSize: h.inputSize, tagIDs: h.tagIDs, width: h.width,
                            w1: arrays[0], b1: arrays[1], w2: arrays[2], b2: arrays[3], w3: arrays[4], b3: arrays[5])
    }
}

/// The detection head's input from one image's backbone maps: the 1280-channel head
/// convolution (stride 32) and the stride-16 map rearranged 2×2 space-to-depth (ONNX
/// SpaceToDepth's channel order, (dy·2 + dx)·C + c), concatenated: 13×13×1728 at 416.
public enum DetectionFeatures {
    public static let levels: [FeatureLevel] = [.head, .stride16]

    public static func channels(head: Int = EfficientNetLite.featureSize, stride16: Int = 112) -> Int { head + 4 * stride16 }

    /// One input per image of the batch `output` came from.
    public static func headInputs(_ output: BackboneOutput) -> [[Float]] {
        guard let head = output.map(.head), let fine = output.map(.stride16) else {
            preconditionFailure("detection needs the head and stride-16 maps")
        }
        precondition(fine.h == 2 * head.h && fine.w == 2 * head.w, "the stride-16 map must be twice the head map")
        let hc = head.c, fc = fine.c, c = hc + 4 * fc, cells = head.h * head.w
        return (0..<head.n).map { n in
            var out = [Float](repeating: 0, count: cells * c)
            head.data.withUnsafeBufferPointer { hp in
                fine.data.withUnsafeBufferPointer { fp in
                    out.withUnsafeMutableBufferPointer { o in
                        for y in 0..<head.h {
                            for x in 0..<head.w {
                                let dst = (y * head.w + x) * c
                                let src = ((n * head.h + y) * head.w + x) * hc
                                for j in 0..<hc { o[dst + j] = hp[src + j] }
                                for dy in 0..<2 {
                                    for dx in 0..<2 {
                                        let s = ((n * fine.h + 2 * y + dy) * fine.w + 2 * x + dx) * fc
                                        let d = dst + hc + (dy * 2 + dx) * fc
                                        for j in 0..<fc { o[d + j] = fp[s + j] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return out
        }
    }
}
