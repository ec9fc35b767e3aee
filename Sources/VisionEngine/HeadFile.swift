import Foundation

/// The file layout heads serialise to: a magic line, a 4-byte little-endian JSON header
/// length, the JSON header, then float32 arrays back to back.
enum HeadFile {
    static func encode<Header: Encodable>(magic: Data, header: Header, arrays: [[Float]]) throws -> Data {
        var out = magic
        let json = try JSONEncoder().encode(header)
        var length = UInt32(json.count).littleEndian
        out.append(Data(bytes: &length, count: 4))
        out.append(json)
        for array in arrays { array.withUnsafeBufferPointer { out.append(Data(buffer: $0)) } }
        return out
    }

    /// The header and the arrays whose sizes `counts` derives from it; any size mismatch
    /// is a corrupt model.
    static func decode<Header: Decodable>(_ data: Data, magic: Data, what: String, counts: (Header) throws -> [Int]) throws
        -> (header: Header, arrays: [[Float]]) {
        let bytes = [UInt8](data)
        guard bytes.count > magic.count + 4, Data(bytes.prefix(magic.count)) == magic else { throw HeadError.corruptModel("not a Sightline \(what)") }
        var p = magic.count
        let length = Int(UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
        p += 4
        guard p + length <= bytes.count else { throw HeadError.corruptModel("truncated header") }
        let header = try JSONDecoder().decode(Header.self, from: Data(bytes[p..<p + length]))
        p += length
        let sizes = try counts(header)
        // Sizes from a stored header: never negative, and their sum must not overflow.
        var total = 0
        for n in sizes {
            guard n >= 0 else { throw HeadError.corruptModel("negative array size") }
            let (sum, overflow) = total.addingReportingOverflow(n)
            guard !overflow, sum <= bytes.count else { throw HeadError.corruptModel("payload size does not match the header") }
            total = sum
        }
        guard bytes.count - p == total * 4 else { throw HeadError.corruptModel("payload size does not match the header") }
        var arrays: [[Float]] = []
        for n in sizes {
            arrays.append(bytes[p..<p + 4 * n].withUnsafeBytes { raw in (0..<n).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } })
            p += 4 * n
        }
        return (header, arrays)
    }
}
