import Foundation

/// Dates as the portal writes them: UTC, to the minute, the same on every server.
enum PortalDates {
    static func short(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_GB")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "d MMM yyyy, HH:mm 'UTC'"
        return f.string(from: d)
    }
}
