import Foundation

/// Builds a frozen TensorFlow `GraphDef` (the protobuf a `model.pb` holds): nodes with
/// their op, inputs and attributes, constants inlined as tensors. Field numbers are
/// TensorFlow's (graph.proto, node_def.proto, attr_value.proto, tensor.proto,
/// tensor_shape.proto); only what a frozen inference graph needs is written.
struct TensorFlowGraph {
    enum DataType: Int64 { case float = 1, int32 = 3 }

    enum Attribute {
        case type(DataType)
        case shape([Int])
        case string(String)
        case int(Int)
        case bool(Bool)
        case ints([Int])
        case tensor(DataType, [Int], Data)
    }

    private struct Node {
        var name: String, op: String, inputs: [String], attrs: [(String, Attribute)]
    }

    private var nodes: [Node] = []
    private var counter = 0

    /// A fresh node name for `op`, unless `name` is given.
    private mutating func name(_ op: String, _ name: String?) -> String {
        if let name { return name }
        counter += 1
        return "\(op.lowercased())_\(counter)"
    }

    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], _ attrs: [(String, Attribute)] = [], name: String? = nil) -> String {
        let n = self.name(op, name)
        nodes.append(Node(name: n, op: op, inputs: inputs, attrs: attrs))
        return n
    }

    /// A float32 operation: every op here carries `T = DT_FLOAT`.
    @discardableResult
    mutating func float(_ op: String, _ inputs: [String], _ attrs: [(String, Attribute)] = [], name: String? = nil) -> String {
        node(op, inputs, [("T", .type(.float))] + attrs, name: name)
    }

    mutating func placeholder(_ name: String, shape: [Int]) -> String {
        node("Placeholder", [], [("dtype", .type(.float)), ("shape", .shape(shape))], name: name)
    }

    mutating func constant(_ values: [Float], shape: [Int]) -> String {
        precondition(values.count == shape.reduce(1, *), "constant of the wrong size")
        let bytes = values.withUnsafeBufferPointer { Data(buffer: $0) }
        return node("Const", [], [("dtype", .type(.float)), ("value", .tensor(.float, shape, bytes))])
    }

    mutating func constant(int32 values: [Int32], shape: [Int]) -> String {
        let bytes = values.withUnsafeBufferPointer { Data(buffer: $0) }
        return node("Const", [], [("dtype", .type(.int32)), ("value", .tensor(.int32, shape, bytes))])
    }

    /// The serialised GraphDef.
    func encoded(producer: Int = 1000) -> Data {
        var g = ProtobufWriter()
        for n in nodes {
            g.message(1) { p in
                p.string(1, n.name)
                p.string(2, n.op)
                for i in n.inputs { p.string(3, i) }
                for (key, value) in n.attrs {
                    p.message(5) { entry in
                        entry.string(1, key)
                        entry.message(2) { Self.encode(value, &$0) }
                    }
                }
            }
        }
        g.message(4) { v in v.int(1, Int64(producer)) }
        return Data(g.bytes)
    }

    private static func encodeShape(_ dims: [Int], _ p: inout ProtobufWriter) {
        for d in dims { p.message(2) { $0.int(1, Int64(d)) } }
    }

    private static func encode(_ a: Attribute, _ p: inout ProtobufWriter) {
        switch a {
        case .type(let t): p.int(6, t.rawValue)
        case .shape(let dims): p.message(7) { encodeShape(dims, &$0) }
        case .string(let s): p.string(2, s)
        case .int(let i): p.int(3, Int64(i))
        case .bool(let b): p.int(5, b ? 1 : 0)
        case .ints(let values):
            p.message(1) { list in
                // ListValue.i is packed.
                var packed = ProtobufWriter()
                for v in values { packed.varint(UInt64(bitPattern: Int64(v))) }
                list.bytes(3, packed.bytes)
            }
        case .tensor(let dtype, let dims, let content):
            p.message(8) { t in
                t.int(1, dtype.rawValue)
                t.message(2) { encodeShape(dims, &$0) }
                t.bytes(4, Array(content))
            }
        }
    }
}
