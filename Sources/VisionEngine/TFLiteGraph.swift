import Foundation

/// A TFLite model under construction: tensors (constants carry their data in buffers),
/// builtin operators with their options, one subgraph. Encoded as TFLite's FlatBuffer
/// (schema version 3, identifier "TFL3"); ids are the public schema's.
struct TFLiteGraph {
    enum TensorType: Int8 { case float32 = 0, float16 = 1, int32 = 2 }

    enum Op: Int32 {
        case add = 0, concatenation = 2, conv2D = 3, depthwiseConv2D = 4, fullyConnected = 9, logistic = 14, mul = 18
        case relu = 19, softmax = 25, spaceToDepth = 26, mean = 40, sub = 41, sqrt = 75
    }

    enum Activation: Int8 { case none = 0, relu = 1, relu6 = 3 }

    /// An operator's builtin options: the union's type id and its table's fields.
    struct Options {
        var type: UInt8
        var fields: [FlatBuffer.Field?]

        static func conv(stride: Int, activation: Activation) -> Options {
            // Conv2DOptions: padding (SAME = 0), stride_w, stride_h, fused activation, dilation w, h.
            Options(type: 1, fields: [.int8(0), .int32(Int32(stride)), .int32(Int32(stride)), .int8(activation.rawValue), .int32(1), .int32(1)])
        }
        static func depthwise(stride: Int, activation: Activation) -> Options {
            // DepthwiseConv2DOptions: padding, stride_w, stride_h, depth_multiplier, fused activation, dilation w, h.
            Options(type: 2, fields: [.int8(0), .int32(Int32(stride)), .int32(Int32(stride)), .int32(1), .int8(activation.rawValue),
                                      .int32(1), .int32(1)])
        }
        static let fullyConnected = Options(type: 8, fields: [.int8(Activation.none.rawValue), .int8(0), .bool(false)])
        static let softmax = Options(type: 9, fields: [.float32(1)])
        static func concatenation(axis: Int) -> Options { Options(type: 10, fields: [.int32(Int32(axis)), .int8(0)]) }
        static let add = Options(type: 11, fields: [.int8(0)])
        static func spaceToDepth(block: Int) -> Options { Options(type: 19, fields: [.int32(Int32(block))]) }
        static let mul = Options(type: 21, fields: [.int8(0)])
        static let mean = Options(type: 27, fields: [.bool(false)])   // ReducerOptions: keep_dims
        static let sub = Options(type: 28, fields: [.int8(0)])
    }

    private struct Tensor { var name: String; var shape: [Int]; var type: TensorType; var buffer: Int }
    private struct Operator { var opcode: Int; var inputs: [Int]; var outputs: [Int]; var options: Options? }

    private var tensors: [Tensor] = []
    /// Buffer 0 is the empty one every tensor without data points at.
    private var buffers: [[UInt8]] = [[]]
    private var operators: [Operator] = []
    private var opcodes: [Op] = []
    private(set) var inputs: [Int] = []
    var outputs: [Int] = []

    /// A tensor the graph computes or is fed.
    mutating func tensor(_ name: String, shape: [Int], type: TensorType = .float32) -> Int {
        tensors.append(Tensor(name: name, shape: shape, type: type, buffer: 0))
        return tensors.count - 1
    }

    mutating func input(_ name: String, shape: [Int]) -> Int {
        let t = tensor(name, shape: shape)
        inputs.append(t)
        return t
    }

    mutating func constant(_ name: String, _ values: [Float], shape: [Int]) -> Int {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        buffers.append(values.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) })
        tensors.append(Tensor(name: name, shape: shape, type: .float32, buffer: buffers.count - 1))
        return tensors.count - 1
    }

    mutating func constant(_ name: String, int32 values: [Int32], shape: [Int]) -> Int {
        buffers.append(values.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) })
        tensors.append(Tensor(name: name, shape: shape, type: .int32, buffer: buffers.count - 1))
        return tensors.count - 1
    }

    /// Appends an operator writing a new float tensor `name` of `shape`; returns that tensor.
    @discardableResult
    mutating func op(_ op: Op, _ inputs: [Int], options: Options?, name: String, shape: [Int]) -> Int {
        let out = tensor(name, shape: shape)
        let code = opcodes.firstIndex(of: op) ?? { opcodes.append(op); return opcodes.count - 1 }()
        operators.append(Operator(opcode: code, inputs: inputs, outputs: [out], options: options))
        return out
    }

    func shape(_ t: Int) -> [Int] { tensors[t].shape }

    func encoded(description: String) -> Data {
        let opcodeTables = opcodes.map { op -> FlatBuffer.Object in
            // OperatorCode: deprecated_builtin_code (int8), custom_code, version, builtin_code.
            .table([.int8(Int8(op.rawValue)), nil, .int32(1), .int32(op.rawValue)])
        }
        let tensorTables = tensors.map { t -> FlatBuffer.Object in
            // Tensor: shape, type, buffer, name.
            .table([.object(.int32s(t.shape.map(Int32.init))), .int8(t.type.rawValue), .uint32(UInt32(t.buffer)),
                    .object(.string(t.name))])
        }
        let operatorTables = operators.map { o -> FlatBuffer.Object in
            // Operator: opcode_index, inputs, outputs, builtin_options_type, builtin_options.
            .table([.uint32(UInt32(o.opcode)), .object(.int32s(o.inputs.map(Int32.init))), .object(.int32s(o.outputs.map(Int32.init))),
                    o.options.map { .uint8($0.type) }, o.options.map { .object(.table($0.fields)) }])
        }
        let subgraph = FlatBuffer.Object.table([.object(.vector(tensorTables)), .object(.int32s(inputs.map(Int32.init))),
                                                .object(.int32s(outputs.map(Int32.init))), .object(.vector(operatorTables)),
                                                .object(.string("main"))])
        // Buffer: data (16-byte aligned, as the schema asks); buffer 0 has none.
        let bufferTables = buffers.map { b -> FlatBuffer.Object in b.isEmpty ? .table([]) : .table([.object(.bytes(b, alignment: 16))]) }
        // Model: version, operator_codes, subgraphs, description, buffers.
        let model = FlatBuffer.Object.table([.uint32(3), .object(.vector(opcodeTables)), .object(.vector([subgraph])),
                                             .object(.string(description)), .object(.vector(bufferTables))])
        return FlatBuffer.encode(root: model, identifier: "TFL3")
    }
}
