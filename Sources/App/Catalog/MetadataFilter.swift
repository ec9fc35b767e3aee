import Foundation

/// The `$filter` of image listings: `key eq 'value'`, `ne`, `and`, `or`, parentheses.
/// `and` binds tighter than `or`. Keys may be written bare or as `metadata/key`. A pair
/// matches `ne` when the key is missing. Answered in SQL (`ImageQuery.sql`).
indirect enum MetadataFilter: Equatable {
    case compare(key: String, equal: Bool, value: String)
    case and(MetadataFilter, MetadataFilter)
    case or(MetadataFilter, MetadataFilter)

    struct SyntaxError: Error { let message: String }

    /// Bounds that keep parsing and matching cheap and the recursion shallow.
    static let maxLength = 2048, maxDepth = 16, maxComparisons = 64

    static func parse(_ text: String) throws -> MetadataFilter {
        guard text.utf8.count <= maxLength else { throw SyntaxError(message: "longer than \(maxLength) bytes") }
        var p = Parser(tokens: try tokenize(text))
        let f = try p.expression()
        guard p.index == p.tokens.count else { throw SyntaxError(message: "unexpected '\(p.tokens[p.index])'") }
        return f
    }

    private enum Token: Equatable, CustomStringConvertible {
        case word(String), string(String), open, close
        var description: String {
            switch self {
            case .word(let w): w
            case .string(let s): "'\(s)'"
            case .open: "("
            case .close: ")"
            }
        }
    }

    private static func tokenize(_ s: String) throws -> [Token] {
        var tokens: [Token] = []
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c.isWhitespace { i = s.index(after: i); continue }
            if c == "(" { tokens.append(.open); i = s.index(after: i); continue }
            if c == ")" { tokens.append(.close); i = s.index(after: i); continue }
            if c == "'" {
                // OData strings: '' inside a string is a quote.
                var value = ""
                i = s.index(after: i)
                while true {
                    guard i < s.endIndex else { throw SyntaxError(message: "unterminated string") }
                    if s[i] == "'" {
                        let next = s.index(after: i)
                        if next < s.endIndex, s[next] == "'" { value.append("'"); i = s.index(after: next); continue }
                        i = next
                        break
                    }
                    value.append(s[i]); i = s.index(after: i)
                }
                tokens.append(.string(value))
                continue
            }
            var word = ""
            while i < s.endIndex, !s[i].isWhitespace, !"()'".contains(s[i]) { word.append(s[i]); i = s.index(after: i) }
            tokens.append(.word(word))
        }
        return tokens
    }

    private struct Parser {
        let tokens: [Token]
        var index = 0
        var depth = 0
        var comparisons = 0

        mutating func next() -> Token? {
            guard index < tokens.count else { return nil }
            defer { index += 1 }
            return tokens[index]
        }

        func peekWord(_ w: String) -> Bool {
            if index < tokens.count, case .word(let x) = tokens[index], x.lowercased() == w { return true }
            return false
        }

        mutating func expression() throws -> MetadataFilter {
            var left = try term()
            while peekWord("or") { index += 1; left = .or(left, try term()) }
            return left
        }

        mutating func term() throws -> MetadataFilter {
            var left = try factor()
            while peekWord("and") { index += 1; left = .and(left, try factor()) }
            return left
        }

        mutating func factor() throws -> MetadataFilter {
            switch next() {
            case .open?:
                depth += 1
                guard depth <= MetadataFilter.maxDepth else { throw SyntaxError(message: "parentheses nested deeper than \(MetadataFilter.maxDepth)") }
                defer { depth -= 1 }
                let e = try expression()
                guard next() == .close else { throw SyntaxError(message: "missing ')'") }
                return e
            case .word(let rawKey)?:
                comparisons += 1
                guard comparisons <= MetadataFilter.maxComparisons else { throw SyntaxError(message: "more than \(MetadataFilter.maxComparisons) comparisons") }
                let key = rawKey.hasPrefix("metadata/") ? String(rawKey.dropFirst("metadata/".count)) : rawKey
                guard case .word(let op)? = next(), ["eq", "ne"].contains(op.lowercased()) else {
                    throw SyntaxError(message: "expected eq or ne after '\(rawKey)'")
                }
                guard case .string(let value)? = next() else { throw SyntaxError(message: "expected a quoted value") }
                return .compare(key: key, equal: op.lowercased() == "eq", value: value)
            default:
                throw SyntaxError(message: "expected a comparison")
            }
        }
    }
}
