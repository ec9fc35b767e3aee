import Foundation
@testable import VisionEngine
import XCTest

/// The protobuf writer against the wire-format examples of the Protocol Buffers
/// documentation, and the exporter's model structure read back by a reader written here.
/// (onnx.checker and onnxruntime check the exported models in Tests/Interop/test_export.py.)
final class ONNXExporterTests: XCTestCase {
    func testProtobufWireFormatMatchesTheDocumentedExamples() {
        var w = ProtobufWriter()
        w.int(1, 150)                       // "08 96 01"
        XCTAssertEqual(w.bytes, [0x08, 0x96, 0x01])
        w = ProtobufWriter()
        w.string(2, "testing")              // "12 07 74 65 73 74 69 6e 67"
        XCTAssertEqual(w.bytes, [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67])
        w = ProtobufWriter()
        w.int(1, -2)                        // negative int64: ten bytes, two's complement
        XCTAssertEqual(w.bytes, [0x08, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        w = ProtobufWriter()
        w.float(2, 1.0)                     // fixed32, little-endian
        XCTAssertEqual(w.bytes, [0x15, 0x00, 0x00, 0x80, 0x3F])
        w = ProtobufWriter()
        w.message(3) { $0.int(1, 150) }     // embedded message: "1a 03 08 96 01"
        XCTAssertEqual(w.bytes, [0x1A, 0x03, 0x08, 0x96, 0x01])
        w = ProtobufWriter()
        w.rawFloats(9, [1, -2])
        XCTAssertEqual(w.bytes, [0x4A, 0x08, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0])
    }

    /// Top-level fields of a protobuf message: number → values (varints as Int, bytes as [UInt8]).
    private func fields(_ b: [UInt8]) -> [Int: [Any]] {
        var out: [Int: [Any]] = [:], p = 0
        func varint() -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true { let byte = b[p]; p += 1; v |= UInt64(byte & 0x7F) << shift; if byte < 0x80 { return v }; shift += 7 }
        }
        while p < b.count {
            let key = varint()
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: out[field, default: []].append(Int(Int64(bitPattern: varint())))
            case 2: let n = Int(varint()); out[field, default: []].append(Array(b[p..<p + n])); p += n
            case 5: out[field, default: []].append(Array(b[p..<p + 4])); p += 4
            default: XCTFail("unexpected wire type \(key & 7)"); return out
            }
        }
        return out
    }

    func testExportedModelStructure() throws {
        let model = try lite0()
        let d = EfficientNetLite.featureSize
        let head = ClassifierHead(kind: .multilabel, backbone: model.variant.rawValue, inputSize: 224, tagIDs: ["a", "b", "c"],
                                  featureMean: [Float](repeating: 0.1, count: d), featureScale: [Float](repeating: 2, count: d),
                                  weights: [Float](repeating: 0.01, count: 3 * d), bias: [0, 1, 2], l2: 0.3)
        let bytes = [UInt8](try ONNXExporter.export(backbone: model, head: head, labels: ["A", "B", "C"], opset: .v10, producerVersion: "t"))
        let top = fields(bytes)
        XCTAssertEqual(top[1]?.first as? Int, 5)                                   // ir_version for opset 10
        let opset = fields(top[8]!.first as! [UInt8])
        XCTAssertEqual(opset[2]?.first as? Int, 10)
        let graph = fields(top[7]!.first as! [UInt8])
        let ops = graph[1]!.map { String(decoding: fields($0 as! [UInt8])[4]!.first as! [UInt8], as: UTF8.self) }
        var expected = ["Sub", "Mul", "Conv", "Clip"]
        for block in model.blocks {
            if block.expand != nil { expected += ["Conv", "Clip"] }
            expected += ["Conv", "Clip", "Conv"] + (block.residual ? ["Add"] : [])
        }
        expected += ["Conv", "Clip", "GlobalAveragePool", "Flatten", "Relu", "Sqrt", "Sub", "Mul", "Gemm", "Sigmoid"]
        XCTAssertEqual(ops, expected)
        let inputs = graph[11]!.map { String(decoding: fields($0 as! [UInt8])[1]!.first as! [UInt8], as: UTF8.self) }
        let outputs = graph[12]!.map { String(decoding: fields($0 as! [UInt8])[1]!.first as! [UInt8], as: UTF8.self) }
        XCTAssertEqual(inputs, ["data"])
        XCTAssertEqual(outputs, ["probabilities"])
        // Every weight is there: the backbone (less its ImageNet classifier) and the head.
        let stored = graph[5]!.reduce(0) { $0 + (fields($1 as! [UInt8])[9]!.first as! [UInt8]).count / 4 }
        let convs = [model.stem, model.head] + model.blocks.flatMap { [$0.expand, $0.depthwise, $0.project].compactMap { $0 } }
        let backbone = convs.reduce(0) { $0 + $1.weights.count + $1.bias.count }
        XCTAssertEqual(stored, backbone + 2 + d * 2 + 3 * d + 3)
    }

    func testHalfPrecisionStoresFloat16WeightsButKeepsBiasesAndDepthwiseKernels() {
        var g = ONNXGraph(name: "g")
        g.inputs = [.init(name: "x", dims: [.size(1), .size(2), .size(4), .size(4)], doc: "")]
        g.constant("pointwise", dims: [2, 2, 1, 1], [1, 2, 3, 4])
        g.constant("depthwise", dims: [2, 1, 3, 3], [Float](repeating: 0.5, count: 18))
        g.constant("bias", dims: [2], [0.1, 0.2])
        let y = g.node("Conv", ["x", "pointwise", "bias"])
        let z = g.node("Conv", [y, "depthwise", "bias"], [.int("group", 2), .ints("pads", [1, 1, 1, 1])], output: "y")
        g.outputs = [.init(name: z, dims: [.size(1), .size(2), .size(4), .size(4)], doc: "")]
        let h = g.halfPrecision()
        let types = Dictionary(uniqueKeysWithValues: h.initializers.map { ($0.name, $0.type) })
        XCTAssertEqual(types, ["pointwise_f16": .float16, "depthwise": .float, "bias": .float])
        XCTAssertEqual(h.nodes.filter { $0.op == "Cast" }.map(\.inputs), [["pointwise_f16"], ["x"], ["y_f32"]],
                       "a cast up for the float16 weight and the input, one down for the output")
        XCTAssertEqual(h.inputs.map(\.type), [.float16])
        XCTAssertEqual(h.outputs.map(\.type), [.float16])
    }

    func testHeadsThatDoNotFitTheBackboneAreRefused() throws {
        let model = try lite0()
        let d = EfficientNetLite.featureSize
        var head = ClassifierHead(kind: .multiclass, backbone: "efficientnet-lite1", inputSize: 240, tagIDs: ["a", "b"],
                                  featureMean: [Float](repeating: 0, count: d), featureScale: [Float](repeating: 1, count: d),
                                  weights: [Float](repeating: 0, count: 2 * d), bias: [0, 0], l2: 0.3)
        XCTAssertThrowsError(try ONNXExporter.export(backbone: model, head: head, labels: ["a", "b"], opset: .v12, producerVersion: "t"))
        head.backbone = model.variant.rawValue
        head.inputSize = 224
        XCTAssertThrowsError(try ONNXExporter.export(backbone: model, head: head, labels: ["a"], opset: .v12, producerVersion: "t"))
        XCTAssertNoThrow(try ONNXExporter.export(backbone: model, head: head, labels: ["a", "b"], opset: .v12, producerVersion: "t"))
    }
}
