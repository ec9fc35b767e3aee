import CHalfFloat
import Foundation

/// A small ONNX graph (float32 tensors, or float16 storage and interface) and its
/// encoding as a `ModelProto`.
/// Field numbers are those of the public `onnx.proto`.
struct ONNXGraph {
    enum Attribute {
        case int(String, Int)
        case ints(String, [Int])
        case float(String, Float)
    }

    enum ElementType: Int64 { case float = 1, float16 = 10 }   // TensorProto.DataType

    struct Node {
        var op: String
        var name: String
        var inputs: [String]
        var outputs: [String]
        var attributes: [Attribute]
    }

    struct Initializer {
        var name: String
        var dims: [Int]
        var values: [Float]
        var type: ElementType = .float
    }

    /// An input or output: a float32 tensor whose dimensions are sizes or named (symbolic) ones.
    struct Value {
        enum Dim { case size(Int), symbol(String) }
        var name: String
        var dims: [Dim]
        var doc: String
        var type: ElementType = .float
    }

    var name: String
    var inputs: [Value] = []
    var outputs: [Value] = []
    private(set) var nodes: [Node] = []
    private(set) var initializers: [Initializer] = []
    private var counter = 0

    init(name: String) { self.name = name }

    /// Adds a constant tensor; returns its name.
    @discardableResult
    mutating func constant(_ name: String, dims: [Int], _ values: [Float]) -> String {
        precondition(dims.reduce(1, *) == values.count, "\(name): \(values.count) values for dims \(dims)")
        initializers.append(Initializer(name: name, dims: dims, values: values))
        return name
    }

    /// Adds a node with one output; returns the output's name (given, or made from the op).
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], _ attributes: [Attribute] = [], output: String? = nil) -> String {
        counter += 1
        let out = output ?? "\(op.lowercased())_\(counter)"
        nodes.append(Node(op: op, name: "\(op)_\(counter)", inputs: inputs, outputs: [out], attributes: attributes))
        return out
    }

    /// The graph with float16 weights, input and output (Custom Vision's OnnxFloat16): each
    /// weight is stored as float16 and cast up where it is read, the input is cast up and
    /// the output cast down, so a runtime computes in float32 on float16-rounded weights
    /// (onnxruntime's CPU provider has no float16 convolution on x86-64). Biases and
    /// depthwise kernels, 5 % of the weights, stay float32: their rounding was most of the
    /// difference from the float32 model (a detector's scores 5.3e-3 apart, 1.4e-3 without).
    func halfPrecision() -> ONNXGraph {
        var g = self
        g.nodes = []
        var rename: [String: String] = [:]
        g.initializers = initializers.map { t in
            guard !Self.keepsFloat32(t) else { return t }
            var h = t
            h.name = t.name + "_f16"
            h.type = .float16
            g.counter += 1
            g.nodes.append(Node(op: "Cast", name: "Cast_\(g.counter)", inputs: [h.name], outputs: [t.name], attributes: [.int("to", 1)]))
            return h
        }
        g.inputs = inputs.map { v in
            var h = v
            h.type = .float16
            rename[v.name] = v.name + "_f32"
            g.counter += 1
            g.nodes.append(Node(op: "Cast", name: "Cast_\(g.counter)", inputs: [v.name], outputs: [v.name + "_f32"], attributes: [.int("to", 1)]))
            return h
        }
        let outputNames = Set(outputs.map(\.name))
        for n in nodes {
            var m = n
            m.inputs = n.inputs.map { rename[$0] ?? $0 }
            m.outputs = n.outputs.map { outputNames.contains($0) ? $0 + "_f32" : $0 }
            g.nodes.append(m)
        }
        g.outputs = outputs.map { v in
            var h = v
            h.type = .float16
            g.counter += 1
            g.nodes.append(Node(op: "Cast", name: "Cast_\(g.counter)", inputs: [v.name + "_f32"], outputs: [v.name], attributes: [.int("to", 10)]))
            return h
        }
        return g
    }

    /// A bias (one dimension) or a depthwise kernel ([channels, 1, k, k]).
    static func keepsFloat32(_ t: Initializer) -> Bool {
        t.dims.count == 1 || (t.dims.count == 4 && t.dims[1] == 1 && t.dims[2] * t.dims[3] > 1)
    }

    struct Model {
        var irVersion: Int
        var opset: Int
        var producerName: String
        var producerVersion: String
        var doc: String
        var metadata: [(String, String)]
    }

    // MARK: encoding

    func encoded(_ m: Model) -> [UInt8] {
        var w = ProtobufWriter()
        w.int(1, Int64(m.irVersion))                      // ModelProto.ir_version
        w.string(2, m.producerName)                       // producer_name
        w.string(3, m.producerVersion)                    // producer_version
        w.int(5, 1)                                       // model_version
        w.string(6, m.doc)                                // doc_string
        w.message(7) { encodeGraph(&$0) }                 // graph
        w.message(8) { o in o.string(1, ""); o.int(2, Int64(m.opset)) }   // opset_import (default domain)
        for (k, v) in m.metadata { w.message(14) { e in e.string(1, k); e.string(2, v) } }   // metadata_props
        return w.bytes
    }

    private func encodeGraph(_ g: inout ProtobufWriter) {
        for n in nodes {
            g.message(1) { p in                           // GraphProto.node
                for i in n.inputs { p.string(1, i) }
                for o in n.outputs { p.string(2, o) }
                p.string(3, n.name)
                p.string(4, n.op)
                for a in n.attributes { p.message(5) { Self.encodeAttribute(a, &$0) } }
            }
        }
        g.string(2, name)                                 // GraphProto.name
        for t in initializers {
            g.message(5) { p in                           // GraphProto.initializer: TensorProto
                p.ints(1, t.dims.map(Int64.init))         // dims
                p.int(2, t.type.rawValue)                 // data_type
                p.string(8, t.name)                       // name
                switch t.type {                           // raw_data, little-endian
                case .float: p.rawFloats(9, t.values)
                case .float16: p.bytes(9, Self.halves(t.values))
                }
            }
        }
        for v in inputs { g.message(11) { Self.encodeValue(v, &$0) } }
        for v in outputs { g.message(12) { Self.encodeValue(v, &$0) } }
    }

    static func halves(_ values: [Float]) -> [UInt8] {
        var h = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in h.withUnsafeMutableBufferPointer { sl_float_to_half(src.baseAddress, $0.baseAddress, values.count) } }
        return h.withUnsafeBytes { Array($0) }
    }

    private static func encodeAttribute(_ a: Attribute, _ p: inout ProtobufWriter) {
        // AttributeProto: name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7).
        switch a {
        case .float(let name, let v): p.string(1, name); p.float(2, v); p.int(20, 1)
        case .int(let name, let v): p.string(1, name); p.int(3, Int64(v)); p.int(20, 2)
        case .ints(let name, let v): p.string(1, name); p.ints(8, v.map(Int64.init)); p.int(20, 7)
        }
    }

    private static func encodeValue(_ v: Value, _ p: inout ProtobufWriter) {
        p.string(1, v.name)                               // ValueInfoProto.name
        p.message(2) { type in                            // type: TypeProto
            type.message(1) { tensor in                   // tensor_type
                tensor.int(1, v.type.rawValue)            // elem_type
                tensor.message(2) { shape in              // shape: TensorShapeProto
                    for d in v.dims {
                        shape.message(1) { dim in
                            switch d {
                            case .size(let n): dim.int(1, Int64(n))       // dim_value
                            case .symbol(let s): dim.string(2, s)         // dim_param
                            }
                        }
                    }
                }
            }
        }
        if !v.doc.isEmpty { p.string(3, v.doc) }          // doc_string
    }
}
