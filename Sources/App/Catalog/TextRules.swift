import Foundation

/// Validation shared by every user-supplied name and description.
enum TextRules {
    static func hasControlCharacters(_ s: String) -> Bool {
        s.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// A name: trimmed non-empty, at most `max` characters, no control characters.
    static func validName(_ s: String, max: Int) -> Bool {
        let t = s.trimmingCharacters(in: .whitespaces)
        return !t.isEmpty && t.count <= max && !hasControlCharacters(s)
    }

    /// A description: at most `max` characters; newlines and tabs allowed.
    static func validDescription(_ s: String, max: Int) -> Bool {
        s.count <= max && !s.unicodeScalars.contains {
            $0.properties.generalCategory == .control && !["\n", "\r", "\t"].contains($0)
        }
    }
}
