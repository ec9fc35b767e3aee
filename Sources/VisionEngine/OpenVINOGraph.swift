import Foundation

/// Builds an OpenVINO IR (version 11): the topology as XML (`<layer>`s with their ports'
/// shapes, `<edge>`s between ports) and every constant's bytes in one weights file that the
/// XML points into by offset and size. The caller gives each operation its output shape.
struct OpenVINOGraph {
    /// One output port of a layer, with its shape.
    struct Value {
        let layer: Int
        let port: Int
        let shape: [Int]
    }

    private(set) var weights = Data()
    private var layers: [String] = []
    private var edges: [(from: Value, to: Int, port: Int)] = []

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    private static func port(_ id: Int, _ shape: [Int], precision: String = "FP32", names: String? = nil) -> String {
        let named = names.map { " names=\"\(escape($0))\"" } ?? ""
        guard !shape.isEmpty else { return "<port id=\"\(id)\" precision=\"\(precision)\"\(named) />" }
        return "<port id=\"\(id)\" precision=\"\(precision)\"\(named)>" + shape.map { "<dim>\($0)</dim>" }.joined() + "</port>"
    }

    private static func attributes(_ attrs: [(String, String)]) -> String {
        attrs.map { " \($0.0)=\"\(escape($0.1))\"" }.joined()
    }

    private mutating func add(type: String, version: String, name: String?, data: [(String, String)],
                              inputs: [Value], output: [Int]?, precision: String = "FP32", names: String? = nil) -> Value {
        let id = layers.count
        var xml = "<layer id=\"\(id)\" name=\"\(Self.escape(name ?? "\(type)_\(id)"))\" type=\"\(type)\" version=\"\(version)\">"
        if !data.isEmpty { xml += "<data\(Self.attributes(data)) />" }
        if !inputs.isEmpty {
            xml += "<input>" + inputs.enumerated().map { Self.port($0.offset, $0.element.shape) }.joined() + "</input>"
        }
        let outPort = inputs.count
        if let output { xml += "<output>" + Self.port(outPort, output, precision: precision, names: names) + "</output>" }
        xml += "</layer>"
        layers.append(xml)
        for (i, v) in inputs.enumerated() { edges.append((v, id, i)) }
        return Value(layer: id, port: outPort, shape: output ?? [])
    }

    mutating func parameter(_ name: String, shape: [Int]) -> Value {
        add(type: "Parameter", version: "opset1", name: name,
            data: [("shape", shape.map(String.init).joined(separator: ",")), ("element_type", "f32")],
            inputs: [], output: shape, names: name)
    }

    /// float32 values, little-endian, appended to the weights file.
    mutating func constant(_ values: [Float], shape: [Int]) -> Value {
        precondition(values.count == shape.reduce(1, *), "constant of the wrong size")
        let offset = weights.count
        values.withUnsafeBufferPointer { weights.append(Data(buffer: $0)) }
        return add(type: "Const", version: "opset1", name: nil,
                   data: [("element_type", "f32"), ("shape", shape.map(String.init).joined(separator: ",")),
                          ("offset", "\(offset)"), ("size", "\(values.count * 4)")],
                   inputs: [], output: shape)
    }

    mutating func constant(int64 values: [Int64], shape: [Int]) -> Value {
        let offset = weights.count
        values.withUnsafeBufferPointer { weights.append(Data(buffer: $0)) }
        return add(type: "Const", version: "opset1", name: nil,
                   data: [("element_type", "i64"), ("shape", shape.map(String.init).joined(separator: ",")),
                          ("offset", "\(offset)"), ("size", "\(values.count * 8)")],
                   inputs: [], output: shape, precision: "I64")
    }

    /// An operation; `names` names its output tensor (what a client asks the model for).
    @discardableResult
    mutating func op(_ type: String, _ inputs: [Value], _ data: [(String, String)] = [], shape: [Int], version: String = "opset1",
                     names: String? = nil) -> Value {
        add(type: type, version: version, name: names, data: data, inputs: inputs, output: shape, names: names)
    }

    mutating func result(_ v: Value, name: String) {
        _ = add(type: "Result", version: "opset1", name: name + "/sink", data: [], inputs: [v], output: nil)
    }

    func xml(name: String) -> String {
        var out = "<?xml version=\"1.0\"?>\n<net name=\"\(Self.escape(name))\" version=\"11\">\n<layers>\n"
        out += layers.joined(separator: "\n")
        out += "\n</layers>\n<edges>\n"
        out += edges.map { "<edge from-layer=\"\($0.from.layer)\" from-port=\"\($0.from.port)\" to-layer=\"\($0.to)\" to-port=\"\($0.port)\" />" }
            .joined(separator: "\n")
        out += "\n</edges>\n</net>\n"
        return out
    }
}
