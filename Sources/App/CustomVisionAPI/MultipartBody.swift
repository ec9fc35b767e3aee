import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MultipartKit
import NIOCore
import NIOHTTP1

/// Splits a multipart body (RFC 2046) into its parts by searching for the delimiter with
/// the C library's `memchr` and `memcmp`. It replaces MultipartKit's parser, which traps on
/// a header name byte above 127 (an index past its 128-entry table) and on an empty
/// boundary, and reads byte by byte in Swift, slowly in a debug build. Parts are slices of
/// the body: nothing is copied.
enum MultipartBody {
    enum Failure: Error, Equatable {
        case malformed
        case tooManyParts
    }

    /// A part's headers are a few hundred bytes; more is not a form.
    static let maxHeaderBytes = 16 * 1024

    static func parts(_ body: ByteBuffer, boundary: MultipartBoundary, maxParts: Int) throws -> [MultipartPart] {
        try spans(body, boundary: boundary, maxParts: maxParts).map { span in
            MultipartPart(headers: span.headers, body: body.getSlice(at: body.readerIndex + span.body.lowerBound, length: span.body.count)!)
        }
    }

    /// `\r\n--boundary`, which ends every part (RFC 2046 §5.1.1).
    static func delimiter(_ boundary: MultipartBoundary) -> [UInt8] { [13, 10, 45, 45] + Array(boundary.value.utf8) }

    /// How many delimiters `bytes` holds.
    static func countDelimiters(_ bytes: UnsafeRawBufferPointer, delimiter: [UInt8]) -> Int {
        var count = 0, at = 0
        while let found = find(delimiter, in: bytes, from: at) { count += 1; at = found + delimiter.count }
        return count
    }

    private struct Span { var headers: HTTPHeaders; var body: Range<Int> }

    private static func spans(_ buffer: ByteBuffer, boundary: MultipartBoundary, maxParts: Int) throws -> [Span] {
        let delimiter = delimiter(boundary)
        let crlf: [UInt8] = [13, 10]
        return try buffer.withUnsafeReadableBytes { raw -> [Span] in
            // The first delimiter may open the body, without the line break before it.
            var pos: Int
            if matches(Array(delimiter.dropFirst(2)), in: raw, at: 0) { pos = delimiter.count - 2 }
            else if let d = find(delimiter, in: raw, from: 0) { pos = d + delimiter.count }
            else { throw Failure.malformed }
            var out: [Span] = []
            while true {
                if matches([45, 45], in: raw, at: pos) { return out }   // the close delimiter
                while pos < raw.count, raw[pos] == 32 || raw[pos] == 9 { pos += 1 }   // transport padding
                guard matches(crlf, in: raw, at: pos) else { throw Failure.malformed }
                pos += 2
                // The part is everything up to the next delimiter: `headers [CRLF body]`,
                // where the headers (each line ending in CRLF) may be none.
                guard let end = find(delimiter, in: raw, from: pos) else { throw Failure.malformed }
                let part = UnsafeRawBufferPointer(rebasing: raw[pos..<end])
                let headerEnd: Int, bodyStart: Int
                if part.isEmpty {
                    headerEnd = pos; bodyStart = pos                          // no headers, no body
                } else if matches(crlf, in: part, at: 0) {
                    headerEnd = pos; bodyStart = pos + 2                      // no headers
                } else if let e = find([13, 10, 13, 10], in: part, from: 0) {
                    headerEnd = pos + e; bodyStart = pos + e + 4              // headers, a blank line, the body
                } else if matches(crlf, in: part, at: part.count - 2) {
                    headerEnd = end - 2; bodyStart = end                      // headers, no body
                } else {
                    throw Failure.malformed
                }
                guard headerEnd - pos <= maxHeaderBytes else { throw Failure.malformed }
                let headers = try parseHeaders(UnsafeRawBufferPointer(rebasing: raw[pos..<headerEnd]))
                guard out.count < maxParts else { throw Failure.tooManyParts }
                out.append(Span(headers: headers, body: bodyStart..<end))
                pos = end + delimiter.count
            }
        }
    }

    /// `Name: value` lines; a name is an RFC 9110 token, a value any bytes but CR and LF.
    private static func parseHeaders(_ block: UnsafeRawBufferPointer) throws -> HTTPHeaders {
        var headers = HTTPHeaders()
        guard !block.isEmpty else { return headers }
        for line in block.split(separator: 10, omittingEmptySubsequences: false) {
            var line = line[...]
            if line.last == 13 { line = line.dropLast() }
            guard let colon = line.firstIndex(of: 58), colon > line.startIndex,
                  line[line.startIndex..<colon].allSatisfy(isTokenByte) else { throw Failure.malformed }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            headers.add(name: name, value: value)
        }
        return headers
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        b > 32 && b < 127 && !"\"(),/:;<=>?@[\\]{}".utf8.contains(b)
    }

    private static func matches(_ needle: [UInt8], in raw: UnsafeRawBufferPointer, at i: Int) -> Bool {
        i >= 0 && i + needle.count <= raw.count && needle.withUnsafeBytes { memcmp(raw.baseAddress! + i, $0.baseAddress!, needle.count) == 0 }
    }

    /// The first index at or after `start` where `needle` begins.
    static func find(_ needle: [UInt8], in raw: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = raw.baseAddress, !needle.isEmpty else { return nil }
        var i = max(0, start)
        while i + needle.count <= raw.count, let hit = memchr(base + i, Int32(needle[0]), raw.count - needle.count + 1 - i) {
            let at = UnsafeRawPointer(hit) - base
            if matches(needle, in: raw, at: at) { return at }
            i = at + 1
        }
        return nil
    }
}
