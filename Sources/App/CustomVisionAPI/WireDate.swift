import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `2020-11-06T16:37:26.266Z`: UTC, milliseconds rounded to the nearest, as
/// `ISO8601DateFormatter` with fractional seconds writes it. Written out by hand because a
/// listing writes hundreds of dates and a formatter is costly to make and not thread-safe
/// to share.
func wireDate(_ date: Date) -> String {
    let ms = (date.timeIntervalSince1970 * 1000).rounded()
    let seconds = (ms / 1000).rounded(.down)
    var t = time_t(seconds)
    var parts = tm()
    gmtime_r(&t, &parts)
    func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
    return pad(Int(parts.tm_year) + 1900, 4) + "-" + pad(Int(parts.tm_mon) + 1, 2) + "-" + pad(Int(parts.tm_mday), 2)
        + "T" + pad(Int(parts.tm_hour), 2) + ":" + pad(Int(parts.tm_min), 2) + ":" + pad(Int(parts.tm_sec), 2)
        + "." + pad(Int(ms - seconds * 1000), 3) + "Z"
}
