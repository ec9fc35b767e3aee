import Foundation
@testable import VisionEngine
import XCTest

/// The FlatBuffer writer read back by a reader written here from the format's description
/// (root uoffset, soffset to the vtable, vtable of uint16 field offsets, forward uoffsets
/// to strings and vectors). TFLite's own interpreter loads the exported models in
/// Tests/Interop/test_export.py and test_export_detection.py.
final class FlatBufferWriterTests: XCTestCase {
    private struct Reader {
        let b: [UInt8]
        func u32(_ p: Int) -> Int { Int(b[p]) | Int(b[p + 1]) << 8 | Int(b[p + 2]) << 16 | Int(b[p + 3]) << 24 }
        func u16(_ p: Int) -> Int { Int(b[p]) | Int(b[p + 1]) << 8 }
        func i32(_ p: Int) -> Int { Int(Int32(truncatingIfNeeded: u32(p))) }
        /// Where field `id` of the table at `t` lies, nil when absent.
        func field(_ t: Int, _ id: Int) -> Int? {
            let vtable = t - i32(t)
            guard 4 + 2 * id < u16(vtable) else { return nil }
            let offset = u16(vtable + 4 + 2 * id)
            return offset == 0 ? nil : t + offset
        }
        func deref(_ p: Int) -> Int { p + u32(p) }
        func string(_ p: Int) -> String { String(decoding: b[(p + 4)..<(p + 4 + u32(p))], as: UTF8.self) }
        func int32s(_ p: Int) -> [Int] { (0..<u32(p)).map { i32(p + 4 + 4 * $0) } }
        func tables(_ p: Int) -> [Int] { (0..<u32(p)).map { deref(p + 4 + 4 * $0) } }
    }

    func testTablesVectorsAndStringsReadBack() {
        let inner = FlatBuffer.Object.table([.int8(-3), nil, .float32(1.5)])
        let root = FlatBuffer.Object.table([.uint32(7), .object(.string("héllo")), nil, .object(.int32s([1, -2, 3])),
                                            .object(.vector([inner, .table([])])), .bool(true),
                                            .object(.bytes([9, 8, 7], alignment: 16))])
        let data = [UInt8](FlatBuffer.encode(root: root, identifier: "TEST"))
        let r = Reader(b: data)
        XCTAssertEqual(String(decoding: data[4..<8], as: UTF8.self), "TEST")
        let t = r.u32(0)
        XCTAssertEqual(t % 4, 0)
        XCTAssertEqual(r.u32(r.field(t, 0)!), 7)
        XCTAssertEqual(r.string(r.deref(r.field(t, 1)!)), "héllo")
        XCTAssertNil(r.field(t, 2))
        XCTAssertEqual(r.int32s(r.deref(r.field(t, 3)!)), [1, -2, 3])
        let items = r.tables(r.deref(r.field(t, 4)!))
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(Int8(bitPattern: data[r.field(items[0], 0)!]), -3)
        XCTAssertNil(r.field(items[0], 1))
        XCTAssertEqual(Float(bitPattern: UInt32(r.u32(r.field(items[0], 2)!))), 1.5)
        XCTAssertNil(r.field(items[1], 0))
        XCTAssertEqual(data[r.field(t, 5)!], 1)
        let bytes = r.deref(r.field(t, 6)!)
        XCTAssertEqual((bytes + 4) % 16, 0, "byte vectors start on their alignment")
        XCTAssertEqual(Array(data[(bytes + 4)..<(bytes + 7)]), [9, 8, 7])
        XCTAssertNil(r.field(t, 9), "fields past the vtable read as absent")
    }

    func testTFLiteModelStructure() throws {
        let model = try EfficientNetLite.load(variant: .lite0, path: weightsDir.appendingPathComponent("efficientnet-lite0.pth").path)
        let d = EfficientNetLite.featureSize
        let head = ClassifierHead(kind: .multiclass, backbone: model.variant.rawValue, inputSize: 224, tagIDs: ["a", "b"],
                                  featureMean: [Float](repeating: 0, count: d), featureScale: [Float](repeating: 1, count: d),
                                  weights: [Float](repeating: 0.01, count: 2 * d), bias: [0, 0], l2: 1)
        let data = [UInt8](try TFLiteExporter.export(backbone: model, head: head, labels: ["a", "b"]))
        let r = Reader(b: data)
        XCTAssertEqual(String(decoding: data[4..<8], as: UTF8.self), "TFL3")
        let m = r.u32(0)
        XCTAssertEqual(r.u32(r.field(m, 0)!), 3, "schema version")
        let subgraph = r.tables(r.deref(r.field(m, 2)!))[0]
        let tensors = r.tables(r.deref(r.field(subgraph, 0)!))
        let inputs = r.int32s(r.deref(r.field(subgraph, 1)!)), outputs = r.int32s(r.deref(r.field(subgraph, 2)!))
        XCTAssertEqual(inputs.count, 1)
        XCTAssertEqual(outputs.count, 1)
        XCTAssertEqual(r.string(r.deref(r.field(tensors[inputs[0]], 3)!)), "Placeholder")
        XCTAssertEqual(r.int32s(r.deref(r.field(tensors[inputs[0]], 0)!)), [1, 224, 224, 3])
        XCTAssertEqual(r.int32s(r.deref(r.field(tensors[outputs[0]], 0)!)), [1, 2])
        let codes = r.tables(r.deref(r.field(m, 1)!)).map { r.i32(r.field($0, 3)!) }
        XCTAssertEqual(Set(codes), [41, 18, 3, 4, 0, 40, 19, 75, 9, 25], "SUB MUL CONV_2D DEPTHWISE ADD MEAN RELU SQRT FC SOFTMAX")
        // Every convolution has its ReLU6 fused: no separate RELU6 operator.
        XCTAssertFalse(codes.contains(21))
        // Buffer 0 is empty; the weights are all there (float32).
        let buffers = r.tables(r.deref(r.field(m, 4)!))
        XCTAssertNil(r.field(buffers[0], 0))
        let weightBytes = buffers.dropFirst().map { r.u32(r.deref(r.field($0, 0)!)) }.reduce(0, +)
        XCTAssertGreaterThan(weightBytes, 4 * 3_000_000)
    }
}
