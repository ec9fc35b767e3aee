import Foundation

/// A small FlatBuffers encoder, enough for a TFLite model: tables of scalars and
/// references, vectors of int32, of bytes (optionally 16-byte aligned) and of references,
/// and strings. Objects are described as a tree and laid out front to back, every parent
/// before its children, so each reference (an unsigned offset) points forward as the
/// format requires; each table's vtable sits just before it.
public enum FlatBuffer {
    public indirect enum Object {
        /// Fields by their id (the schema's declaration order, unions taking two ids); nil = absent.
        case table([Field?])
        case string(String)
        case int32s([Int32])
        case bytes([UInt8], alignment: Int)
        case vector([Object])
    }

    public enum Field {
        case int8(Int8), uint8(UInt8), bool(Bool), int32(Int32), uint32(UInt32), float32(Float)
        case object(Object)

        var size: Int {
            switch self {
            case .int8, .uint8, .bool: 1
            case .int32, .uint32, .float32, .object: 4
            }
        }
    }

    /// The encoded buffer: the root table, with a 4-byte file identifier after the root offset.
    public static func encode(root: Object, identifier: String) -> Data {
        precondition(identifier.utf8.count == 4, "a file identifier has 4 bytes")
        var w = Layout()
        w.bytes = [0, 0, 0, 0] + Array(identifier.utf8)
        let at = w.place(root)
        w.patch(at: 0, to: at)
        return Data(w.bytes)
    }

    private struct Layout {
        var bytes: [UInt8] = []

        mutating func align(_ n: Int, after extra: Int = 0) {
            while (bytes.count + extra) % n != 0 { bytes.append(0) }
        }

        mutating func append<T: FixedWidthInteger>(_ v: T) {
            withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
        }

        mutating func write<T: FixedWidthInteger>(_ v: T, at p: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[p + i] = b } }
        }

        /// A reference at `p` to the object at `target` (forward only).
        mutating func patch(at p: Int, to target: Int) {
            precondition(target > p, "FlatBuffers references point forward")
            write(UInt32(target - p), at: p)
        }

        /// Writes the object and, after it, everything it refers to; returns where it starts.
        mutating func place(_ object: Object) -> Int {
            switch object {
            case .string(let s):
                align(4)
                let at = bytes.count
                append(UInt32(s.utf8.count))
                bytes.append(contentsOf: s.utf8)
                bytes.append(0)
                return at
            case .int32s(let values):
                align(4)
                let at = bytes.count
                append(UInt32(values.count))
                for v in values { append(v) }
                return at
            case .bytes(let data, let alignment):
                // The elements (after the 4-byte length) start on the alignment.
                align(max(4, alignment), after: 4)
                let at = bytes.count
                append(UInt32(data.count))
                bytes.append(contentsOf: data)
                return at
            case .vector(let items):
                align(4)
                let at = bytes.count
                append(UInt32(items.count))
                let slots = items.indices.map { bytes.count + 4 * $0 }
                bytes.append(contentsOf: repeatElement(0, count: 4 * items.count))
                for (slot, item) in zip(slots, items) { patch(at: slot, to: place(item)) }
                return at
            case .table(let fields):
                // The vtable: its size, the table's size, then each field's offset in the table.
                align(4)
                let vtable = bytes.count
                bytes.append(contentsOf: repeatElement(0, count: 4 + 2 * fields.count))
                align(4)
                let table = bytes.count
                append(Int32(table - vtable))   // soffset: the vtable is this far back
                var pending: [(slot: Int, object: Object)] = []
                for (id, field) in fields.enumerated() {
                    guard let field else { continue }
                    align(field.size)
                    write(UInt16(bytes.count - table), at: vtable + 4 + 2 * id)
                    switch field {
                    case .int8(let v): append(v)
                    case .uint8(let v): append(v)
                    case .bool(let v): append(UInt8(v ? 1 : 0))
                    case .int32(let v): append(v)
                    case .uint32(let v): append(v)
                    case .float32(let v): append(v.bitPattern)
                    case .object(let o): pending.append((bytes.count, o)); append(UInt32(0))
                    }
                }
                align(4)
                write(UInt16(4 + 2 * fields.count), at: vtable)
                write(UInt16(bytes.count - table), at: vtable + 2)
                for (slot, object) in pending { patch(at: slot, to: place(object)) }
                return table
            }
        }
    }
}
