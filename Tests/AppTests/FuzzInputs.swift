import Foundation
import NIOHTTP1
import Vapor

/// SplitMix64: a small seeded generator, so a fuzz run replays from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Requests shaped like real ones and then bent: the generator knows the grammar of each
/// part (media types and their parameters, multipart framing, form fields, JSON, `$filter`)
/// and breaks it in the ways parsers get wrong.
struct FuzzInputs {
    var rng: SeededGenerator
    let project: String, account: String, trainingKey: String, predictionKey: String, cookie: String, csrf: String

    init(seed: UInt64, project: String, account: String, trainingKey: String, predictionKey: String, cookie: String, csrf: String) {
        rng = SeededGenerator(state: seed)
        self.project = project; self.account = account; self.trainingKey = trainingKey
        self.predictionKey = predictionKey; self.cookie = cookie; self.csrf = csrf
    }

    mutating func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }

    static let nasty = ["", " ", "\"", "\"\"", ";", ",", "=", "\\", "%", "%00", "%zz", "\u{0}", "\r\n", "é", "\u{202E}", "--", "[", "]", "[]",
                        "a[b]", "-1", "0", "9223372036854775808", "1e999", "NaN", "null", "true", "{}", "[[[[", String(repeating: "a", count: 300)]

    mutating func token() -> String {
        if chance(0.4) { return pick(Self.nasty) }
        let alphabet = Array("abcXYZ019-_.'()+,/:=? ;\"\\%[]{}é\u{1}")
        return String((0..<int(0...80)).map { _ in pick(alphabet) })
    }

    mutating func contentType() -> String? {
        switch int(0...9) {
        case 0: return nil
        case 1: return "application/json"
        case 2: return "application/x-www-form-urlencoded"
        case 3: return "application/octet-stream"
        case 4: return "\(pick(["multipart", "MULTIPART", "Multipart"]))/\(pick(["form-data", "mixed", "x"]))"
        case 5: return "multipart/form-data; boundary=\(token())"
        case 6: return "multipart/form-data; boundary=\"\(token())\"; \(token())=\(token())"
        case 7: return "multipart/form-data;boundary=\(token());boundary=\(token())"
        case 8: return "\(token())/\(token()); \(token())"
        default: return "multipart/form-data; boundary=fz"
        }
    }

    mutating func multipartBody(boundary: String) -> [UInt8] {
        var s = chance(0.2) ? token() : ""
        for _ in 0..<int(0...4) {
            s += "--\(boundary)\r\n"
            if chance(0.8) { s += "Content-Disposition: form-data; name=\"\(pick(["imageData", "_csrf", "name", "tagIds", token()]))\"\(chance(0.5) ? "; filename=\"\(token())\"" : "")\r\n" }
            if chance(0.3) { s += "\(token()): \(token())\r\n" }
            s += chance(0.9) ? "\r\n" : ""
            s += chance(0.2) ? String(repeating: "\r\n--\(boundary)", count: int(1...3)) : token()
            s += "\r\n"
        }
        if chance(0.7) { s += "--\(boundary)--\(chance(0.5) ? "\r\n" : "")" }
        var bytes = Array(s.utf8)
        if chance(0.3), !bytes.isEmpty { bytes.removeLast(int(0...bytes.count)) }
        if chance(0.3), !bytes.isEmpty { bytes[int(0...(bytes.count - 1))] = UInt8(int(0...255)) }
        return bytes
    }

    mutating func formBody() -> [UInt8] {
        var fields: [String] = chance(0.6) ? ["_csrf=\(csrf)"] : []
        let repeated = chance(0.1) ? int(500...1500) : int(0...12)
        let key = pick(["a", "a[]", "a[b]", "a[b][c][d][e][f][g][h]", "images[]", "name", "email", "password", token()])
        for _ in 0..<repeated { fields.append(chance(0.8) ? "\(key)=\(token())" : token()) }
        fields.shuffle(using: &rng)
        return Array(fields.joined(separator: pick(["&", "&&", ";", "&="])).utf8)
    }

    mutating func json(depth: Int = 0) -> String {
        switch depth > 3 ? int(0...2) : int(0...5) {
        case 0: return pick(["0", "-1", "1e400", "-0", "123456789012345678901234567890", "true", "null", "\"\""])
        case 1: return "\"\(token().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\""
        case 2: return pick(["[", "{", "\"\\u00", "{\"a\":}", String(repeating: "[", count: 600)])
        case 3: return "[" + (0..<int(0...4)).map { _ in json(depth: depth + 1) }.joined(separator: ",") + "]"
        default:
            let keys = ["tagIds", "images", "name", "threshold", "maxCount", "continuation", "regions", "url", "metadata", "sortBy", token()]
            return "{" + (0..<int(0...4)).map { _ in "\"\(pick(keys))\":\(json(depth: depth + 1))" }.joined(separator: ",") + "}"
        }
    }

    mutating func filter() -> String {
        let atoms = ["a eq 'b'", "name eq '\(token())'", "(", ")", " and ", " or ", "not ", "eq", "'", "''", "x gt 1", "startswith(a,'b')"]
        return (0..<int(0...12)).map { _ in pick(atoms) }.joined()
    }

    mutating func query() -> String {
        let names = ["take", "skip", "$filter", "tagIds", "imageIds", "iterationId", "name", "orderBy", "threshold", "a[b]", token()]
        return (0..<int(0...6)).map { _ in
            let n = pick(names)
            let v = n == "$filter" ? filter() : token()
            return "\(n.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")=\(chance(0.8) ? (v.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") : v.filter { $0.isASCII && !$0.isWhitespace && $0 != "#" })"
        }.joined(separator: "&")
    }

    mutating func segment() -> String {
        if chance(0.7) { return pick([project, UUID().uuidString, "prod", "images", "tags", "iterations"]) }
        if chance(0.3) { return String(repeating: pick(["s", "%41"]), count: int(200...400)) }
        return token().addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/", "?", "#"])) ?? "x"
    }

    mutating func next() -> FuzzTests.Input {
        let v3 = "/customvision/v3.3/training/projects/\(project)"
        let routes: [(HTTPMethod, String, HTTPHeaders)] = [
            (.POST, "/signin", [:]), (.POST, "/signup", [:]),
            (.POST, "/projects", ["Cookie": cookie]),
            (.POST, "/accounts/\(account)/projects/\(project)/images", ["Cookie": cookie, "X-CSRF-Token": csrf]),
            (.POST, "/accounts/\(account)/projects/\(project)/tags", ["Cookie": cookie]),
            (.POST, "/accounts/\(account)/projects/\(project)/bulk", ["Cookie": cookie]),
            (.POST, "/accounts/\(account)/projects/\(project)/quicktest", ["Cookie": cookie, "X-CSRF-Token": csrf]),
            (.POST, "\(v3)/images", ["Training-Key": trainingKey]),
            (.POST, "\(v3)/images/files", ["Training-Key": trainingKey]),
            (.POST, "\(v3)/images/regions", ["Training-Key": trainingKey]),
            (.POST, "\(v3)/tags", ["Training-Key": trainingKey]),
            (.POST, "\(v3)/images/suggested", ["Training-Key": trainingKey]),
            (.POST, "\(v3)/quicktest/image", ["Training-Key": trainingKey]),
            (.GET, "\(v3)/images", ["Training-Key": trainingKey]),
            (.PATCH, v3, ["Training-Key": trainingKey]),
            (.POST, "/customvision/v3.0/prediction/\(project)/classify/iterations/prod/image", ["Prediction-Key": predictionKey]),
            (.POST, "/customvision/v2.0/Prediction/\(project)/image", ["Prediction-Key": predictionKey]),
            (.GET, "/customvision/v3.3/training/\(segment())/\(segment())/\(segment())", ["Training-Key": trainingKey]),
            (.GET, "/accounts/\(account)/projects/\(segment())/\(segment())", ["Cookie": cookie]),
            (.GET, "/\(segment())", [:]), (.GET, "/css/\(segment())", ["Cookie": cookie]),
        ]
        var (method, path, headers) = pick(routes)
        if chance(0.6) { path += "?" + query() }
        let type = contentType()
        if let type { headers.replaceOrAdd(name: .contentType, value: type) }
        let body: [UInt8]
        let lower = type?.lowercased() ?? ""
        if lower.hasPrefix("multipart") {
            let boundary = lower.contains("boundary=fz") ? "fz" : (chance(0.5) ? token() : "fz")
            body = multipartBody(boundary: boundary)
        } else if lower.contains("urlencoded") {
            body = formBody()
        } else if lower.contains("json") {
            body = Array(json().utf8)
        } else {
            body = (0..<int(0...64)).map { _ in UInt8(int(0...255)) }
        }
        return .init(method: method, path: path, headers: headers, body: body)
    }
}
