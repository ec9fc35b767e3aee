import Foundation

/// A float tensor from a checkpoint, contiguous in its logical (PyTorch) order.
public struct CheckpointTensor: Sendable {
    public var shape: [Int]
    public var values: [Float]
    public var count: Int { shape.reduce(1, *) }
}

public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case notLegacyCheckpoint
    case malformed(String)
    case missingTensor(String)
    case wrongShape(String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .unreadable(let path): "cannot read the weights file \(path)"
        case .notLegacyCheckpoint: "not a legacy PyTorch checkpoint (wrong magic number)"
        case .malformed(let why): "malformed checkpoint: \(why)"
        case .missingTensor(let name): "the checkpoint has no tensor \(name)"
        case .wrongShape(let name, let e, let f): "tensor \(name) has shape \(f), expected \(e)"
        }
    }
}

/// Reads a legacy (pre-zip) `torch.save` file without Python: magic number, protocol,
/// system info and the state dict as pickles, then the list of storage keys, then each
/// storage as an int64 element count and its little-endian data. Tensors are views into
/// storages with an offset, a size and a stride; the strides are honoured.
public enum CheckpointReader {
    static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]  // 0x1950a86a20f9469cfc6c

    private struct Storage {
        var key: String
        var type: String
        var elementSize: Int
    }

    private struct TensorView {
        var storageKey: String
        var offset: Int
        var size: [Int]
        var stride: [Int]
    }

    public static func read(path: String) throws -> [String: CheckpointTensor] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError.unreadable(path) }
        return try read(bytes: [UInt8](data))
    }

    public static func read(bytes: [UInt8]) throws -> [String: CheckpointTensor] {
        do {
            return try parse(bytes)
        } catch let e as CheckpointError {
            throw e
        } catch let e as PickleError {
            throw CheckpointError.malformed(e.description)
        }
    }

    private static func parse(_ bytes: [UInt8]) throws -> [String: CheckpointTensor] {
        var reader = PickleReader(data: bytes)
        guard case .bigInt(let m) = try reader.read(), m == magic else { throw CheckpointError.notLegacyCheckpoint }
        guard case .int(1001) = try reader.read() else { throw CheckpointError.malformed("unknown protocol version") }
        _ = try reader.read()  // system info: endianness and type sizes (little-endian assumed)

        var storages: [String: Storage] = [:]
        reader.reduce = { callable, args in
            if case .global("collections", "OrderedDict") = callable { return .dict(PickleDict()) }
            return .call(callable, args)
        }
        guard case .dict(let stateDict) = try reader.read() else { throw CheckpointError.malformed("the state dict is not a dict") }
        var views: [String: TensorView] = [:]
        for (k, v) in stateDict.items {
            guard let name = k.string else { continue }
            guard case .call(.global("torch._utils", "_rebuild_tensor_v2"), let args) = v, args.count >= 4,
                  case .persistent(let pid) = args[0], let id = pid.tuple, id.count >= 5,
                  id[0].string == "storage", case .global(_, let type) = id[1], let key = id[2].string,
                  let offset = args[1].int, let size = args[2].tuple?.compactMap(\.int), let stride = args[3].tuple?.compactMap(\.int),
                  size.count == stride.count else {
                throw CheckpointError.malformed("entry \(name) is not a tensor")
            }
            let elementSize: Int
            switch type {
            case "FloatStorage", "IntStorage": elementSize = 4
            case "LongStorage", "DoubleStorage": elementSize = 8
            case "HalfStorage", "ShortStorage", "BFloat16Storage": elementSize = 2
            case "ByteStorage", "CharStorage", "BoolStorage": elementSize = 1
            default: throw CheckpointError.malformed("unknown storage type \(type)")
            }
            storages[key] = Storage(key: key, type: type, elementSize: elementSize)
            views[name] = TensorView(storageKey: key, offset: offset, size: size, stride: stride)
        }
        guard let keys = try reader.read().tuple?.compactMap(\.string) else {
            throw CheckpointError.malformed("missing storage key list")
        }
        // Raw storages follow, in the order of the key list.
        var position = reader.position
        var floatData: [String: [Float]] = [:]
        for key in keys {
            guard position + 8 <= bytes.count else { throw CheckpointError.malformed("truncated before storage \(key)") }
            var count = 0
            for i in 0..<8 { count |= Int(bytes[position + i]) << (8 * i) }
            position += 8
            guard let s = storages[key] else { throw CheckpointError.malformed("storage \(key) is not referenced") }
            let length = count * s.elementSize
            guard count >= 0, position + length <= bytes.count else { throw CheckpointError.malformed("storage \(key) is truncated") }
            if s.type == "FloatStorage" {
                floatData[key] = bytes.withUnsafeBufferPointer { buf in
                    (0..<count).map { i in
                        let p = position + 4 * i
                        return Float(bitPattern: UInt32(buf[p]) | UInt32(buf[p + 1]) << 8 | UInt32(buf[p + 2]) << 16 | UInt32(buf[p + 3]) << 24)
                    }
                }
            }
            position += length
        }
        var tensors: [String: CheckpointTensor] = [:]
        for (name, view) in views {
            guard let storage = floatData[view.storageKey] else { continue }  // integer bookkeeping tensors
            tensors[name] = try materialise(view, storage: storage, name: name)
        }
        return tensors
    }

    /// Copies a strided view into a contiguous array in logical order.
    private static func materialise(_ v: TensorView, storage: [Float], name: String) throws -> CheckpointTensor {
        let count = v.size.reduce(1, *)
        var maxIndex = v.offset
        for (n, s) in zip(v.size, v.stride) where n > 0 { maxIndex += (n - 1) * s }
        guard v.offset >= 0, count == 0 || maxIndex < storage.count else {
            throw CheckpointError.malformed("tensor \(name) reaches past its storage")
        }
        var out = [Float](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: v.size.count)
        for i in 0..<count {
            var src = v.offset
            for d in 0..<index.count { src += index[d] * v.stride[d] }
            out[i] = storage[src]
            var d = index.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < v.size[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return CheckpointTensor(shape: v.size, values: out)
    }
}
