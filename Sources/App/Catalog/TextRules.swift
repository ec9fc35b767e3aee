import Foundation

/// Validation shared by every user-supplied name and description.
enum TextRules {
    static func hasControlCharacters(_ s: String) -> Bool {
        s.unicodeScalars.contains { $0.properties.generalCategory == .control || isBidiControl($0) }
    }

    /// Embeddings, overrides, isolates and marks that reorder how text is shown, so a name
    /// could read differently from what it is ("Trojan Source").
    static func isBidiControl(_ u: Unicode.Scalar) -> Bool {
        (0x202A...0x202E).contains(u.value) || (0x2066...0x2069).contains(u.value) || [0x200E, 0x200F, 0x061C].contains(u.value)
    }

    /// A name: trimmed non-empty, at most `max` characters, no control characters.
    static func validName(_ s: String, max: Int) -> Bool {
        let t = s.trimmingCharacters(in: .whitespaces)
        return !t.isEmpty && t.count <= max && !hasControlCharacters(s)
    }

    /// A description: at most `max` characters; newlines and tabs allowed.
    static func validDescription(_ s: String, max: Int) -> Bool {
        s.count <= max && !s.unicodeScalars.contains {
            ($0.properties.generalCategory == .control && !["\n", "\r", "\t"].contains($0)) || isBidiControl($0)
        }
    }
}
