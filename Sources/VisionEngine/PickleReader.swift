import Foundation

/// The values a PyTorch legacy checkpoint's pickles contain.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case tuple([PickleValue])
    case list(PickleBox)
    case dict(PickleDict)
    case global(module: String, name: String)
    /// A persistent id (torch storages are referenced this way).
    case persistent(PickleValue)
    /// `callable(*args)` that the reader does not interpret itself.
    case call(PickleValue, [PickleValue])
    case mark
    /// An integer too wide for Int (the legacy format's magic number), little-endian bytes.
    case bigInt([UInt8])

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var int: Int? { if case .int(let i) = self { return i } else { return nil } }
    var tuple: [PickleValue]? {
        switch self {
        case .tuple(let t): return t
        case .list(let l): return l.items
        default: return nil
        }
    }
}

final class PickleBox { var items: [PickleValue] = [] }
final class PickleDict { var items: [(PickleValue, PickleValue)] = [] }

struct PickleError: Error, CustomStringConvertible {
    let description: String
}

/// A small reader for pickle protocol 2, as much as `torch.save`'s legacy format uses.
/// `reduce` lets the caller build objects (OrderedDict, tensors) as they are read.
struct PickleReader {
    private let data: [UInt8]
    private(set) var position: Int
    var reduce: (PickleValue, [PickleValue]) throws -> PickleValue = { .call($0, $1) }

    init(data: [UInt8], position: Int = 0) {
        self.data = data
        self.position = position
    }

    private mutating func byte() throws -> UInt8 {
        guard position < data.count else { throw PickleError(description: "truncated pickle at byte \(position)") }
        defer { position += 1 }
        return data[position]
    }

    private mutating func bytes(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, position + n <= data.count else { throw PickleError(description: "truncated pickle at byte \(position)") }
        defer { position += n }
        return data[position..<position + n]
    }

    private mutating func uint(_ n: Int) throws -> Int {
        var v = 0
        for (i, b) in try bytes(n).enumerated() { v |= Int(b) << (8 * i) }
        return v
    }

    private mutating func line() throws -> String {
        var out: [UInt8] = []
        while true {
            let b = try byte()
            if b == 0x0A { break }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads one pickle up to its STOP and returns the object.
    mutating func read() throws -> PickleValue {
        var stack: [PickleValue] = []
        var memo: [Int: PickleValue] = [:]

        func pop() throws -> PickleValue {
            guard let v = stack.popLast() else { throw PickleError(description: "pickle stack underflow") }
            return v
        }
        func popToMark() throws -> [PickleValue] {
            var items: [PickleValue] = []
            while true {
                let v = try pop()
                if case .mark = v { return items.reversed() }
                items.append(v)
            }
        }

        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                   // PROTO
            case 0x2E: return try pop()                                 // STOP
            case 0x28: stack.append(.mark)                              // MARK
            case 0x4E: stack.append(.none)                              // NONE
            case 0x88: stack.append(.bool(true))                        // NEWTRUE
            case 0x89: stack.append(.bool(false))                       // NEWFALSE
            case 0x4B: stack.append(.int(try uint(1)))                  // BININT1
            case 0x4D: stack.append(.int(try uint(2)))                  // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A:                                                  // LONG1
                let n = Int(try byte())
                let raw = Array(try bytes(n))
                guard n <= 8 else { stack.append(.bigInt(raw)); continue }
                var v: Int64 = 0
                for (i, b) in raw.enumerated() { v |= Int64(b) << (8 * Int64(i)) }
                if n > 0 && n < 8 && raw[n - 1] & 0x80 != 0 { v -= Int64(1) << (8 * Int64(n)) }
                stack.append(.int(Int(v)))
            case 0x47:                                                  // BINFLOAT (big-endian)
                var bits: UInt64 = 0
                for b in try bytes(8) { bits = bits << 8 | UInt64(b) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x58:                                                  // BINUNICODE
                let n = try uint(4)
                stack.append(.string(String(decoding: try bytes(n), as: UTF8.self)))
            case 0x55:                                                  // SHORT_BINSTRING
                let n = Int(try byte())
                stack.append(.string(String(decoding: try bytes(n), as: UTF8.self)))
            case 0x54:                                                  // BINSTRING
                let n = try uint(4)
                stack.append(.string(String(decoding: try bytes(n), as: UTF8.self)))
            case 0x29: stack.append(.tuple([]))                         // EMPTY_TUPLE
            case 0x85: stack.append(.tuple([try pop()]))                // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))            // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x74: stack.append(.tuple(try popToMark()))            // TUPLE
            case 0x5D: stack.append(.list(PickleBox()))                 // EMPTY_LIST
            case 0x7D: stack.append(.dict(PickleDict()))                // EMPTY_DICT
            case 0x61:                                                  // APPEND
                let v = try pop()
                guard case .list(let l)? = stack.last else { throw PickleError(description: "APPEND to a non-list") }
                l.items.append(v)
            case 0x65:                                                  // APPENDS
                let items = try popToMark()
                guard case .list(let l)? = stack.last else { throw PickleError(description: "APPENDS to a non-list") }
                l.items += items
            case 0x73:                                                  // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let d)? = stack.last else { throw PickleError(description: "SETITEM on a non-dict") }
                d.items.append((k, v))
            case 0x75:                                                  // SETITEMS
                let items = try popToMark()
                guard case .dict(let d)? = stack.last, items.count % 2 == 0 else { throw PickleError(description: "SETITEMS on a non-dict") }
                for i in stride(from: 0, to: items.count, by: 2) { d.items.append((items[i], items[i + 1])) }
            case 0x63:                                                  // GLOBAL
                let module = try line(), name = try line()
                stack.append(.global(module: module, name: name))
            case 0x52:                                                  // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args.tuple ?? []))
            case 0x81:                                                  // NEWOBJ
                let args = try pop(), cls = try pop()
                stack.append(try reduce(cls, args.tuple ?? []))
            case 0x62: _ = try pop()                                    // BUILD: state is not needed
            case 0x51: stack.append(.persistent(try pop()))             // BINPERSID
            case 0x71: memo[Int(try byte())] = stack.last               // BINPUT
            case 0x72: memo[try uint(4)] = stack.last                   // LONG_BINPUT
            case 0x68:                                                  // BINGET
                let k = Int(try byte())
                guard let v = memo[k] else { throw PickleError(description: "unknown memo \(k)") }
                stack.append(v)
            case 0x6A:                                                  // LONG_BINGET
                let k = try uint(4)
                guard let v = memo[k] else { throw PickleError(description: "unknown memo \(k)") }
                stack.append(v)
            default:
                throw PickleError(description: String(format: "unsupported pickle opcode 0x%02x at byte %d", op, position - 1))
            }
        }
    }
}
