import Foundation

/// What a failed job tells its user (an iteration's or export's error): the error's own
/// message, with the server's file paths taken out. The log keeps the whole error.
enum FailureText {
    private static let path = try! NSRegularExpression(pattern: #"(?:file://)?(?:/[^\s/"',:;()]+){2,}/?"#)

    static func describe(_ error: Error) -> String {
        if let e = error as? CVError { return e.message }
        if let e = error as? QuotaLedger.Exceeded { return CVError.quotaExceeded(e).message }
        return scrub("\(error)")
    }

    static func scrub(_ text: String) -> String {
        let range = NSRange(text.startIndex..., in: text)
        return path.stringByReplacingMatches(in: text, range: range, withTemplate: "(a server file)")
    }
}
