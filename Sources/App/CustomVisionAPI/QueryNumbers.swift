import Vapor

extension Request {
    /// An integer query parameter checked before any arithmetic: absent gives `default`;
    /// anything that is not a whole number inside `range` is a 400 in the API's format.
    func boundedInt(_ name: String, _ range: ClosedRange<Int>, default fallback: Int, code: String = "BadRequest") throws -> Int {
        guard let raw = query[String.self, at: name] else { return fallback }
        guard raw.count <= 20, let n = Int(raw.trimmingCharacters(in: .whitespaces)), range.contains(n) else {
            throw CVError.badRequest(code, "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return n
    }

    /// A paging parameter for the portal: clamped into `range`, never refused.
    func clampedInt(_ name: String, _ range: ClosedRange<Int>, default fallback: Int) -> Int {
        guard let raw = query[String.self, at: name], let n = Int(raw.prefix(20)) else { return fallback }
        return Swift.min(Swift.max(n, range.lowerBound), range.upperBound)
    }
}
