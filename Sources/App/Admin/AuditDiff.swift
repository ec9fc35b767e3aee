import Fluent
import Foundation

/// An audit entry in words: the action's name, and the fields that changed as
/// "field: before → after" (fields added or removed shown as such).
enum AuditDiff {
    static func describe(action: String) -> String {
        switch action {
        case "tier.update": return "Tier limits changed"
        case "tier.create": return "Tier added"
        case "tier.version": return "Tier catalogue version applied"
        case "account.tier": return "Account tier changed"
        case "account.overrides": return "Account overrides changed"
        case "account.create": return "Account created"
        case "user.create": return "User created"
        default: return action
        }
    }

    /// One JSON value as the audit log stores it.
    enum Value: Decodable, Equatable {
        case null, bool(Bool), number(Double), string(String), list([Value]), object([String: Value])

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let n = try? c.decode(Double.self) { self = .number(n) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let l = try? c.decode([Value].self) { self = .list(l) }
            else { self = .object(try c.decode([String: Value].self)) }
        }

        var text: String {
            switch self {
            case .null: return "unlimited"
            case .bool(let b): return b ? "yes" : "no"
            case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
            case .string(let s): return s
            case .list(let l): return l.map(\.text).joined(separator: ", ")
            case .object(let o): return o.keys.sorted().map { "\($0)=\(o[$0]!.text)" }.joined(separator: ", ")
            }
        }
    }

    static func fields(_ json: String?) -> [String: String] {
        guard let json, let value = try? JSONDecoder().decode(Value.self, from: Data(json.utf8)) else { return [:] }
        switch value {
        case .object(let o): return o.mapValues(\.text)
        case .list(let items):
            // Lists of {name, value} (overrides) read as one field each.
            var out: [String: String] = [:]
            for case .object(let item) in items {
                if case .string(let name)? = item["name"] { out[name] = (item["value"] ?? .null).text }
            }
            return out
        default: return ["value": value.text]
        }
    }

    static func changes(before: String?, after: String?) -> [(field: String, before: String?, after: String?)] {
        let b = fields(before), a = fields(after)
        return Set(b.keys).union(a.keys).sorted().compactMap { k in
            b[k] == a[k] ? nil : (k, b[k], a[k])
        }
    }

    /// A stored field name in words: a quota's label, else the camel-case name spelled out.
    static func label(_ field: String) -> String {
        if let q = Quota(rawValue: field) { return q.label }
        var words = ""
        for ch in field {
            if ch.isUppercase, !words.isEmpty { words.append(" ") }
            words.append(contentsOf: ch.lowercased())
        }
        return words.prefix(1).uppercased() + words.dropFirst()
    }

    /// The names of the accounts and users that targets ("account:<id>", "user:<id>") name.
    static func targetNames(_ targets: [String], on db: Database) async throws -> [String: String] {
        func ids(_ kind: String) -> [UUID] {
            targets.compactMap { t in t.hasPrefix(kind + ":") ? UUID(uuidString: String(t.dropFirst(kind.count + 1))) : nil }
        }
        var names: [String: String] = [:]
        let accounts = ids("account"), users = ids("user")
        if !accounts.isEmpty {
            for a in try await Account.query(on: db).filter(\.$id ~~ accounts).all() { names["account:" + a.id!.uuidString.lowercased()] = a.name }
        }
        if !users.isEmpty {
            for u in try await User.query(on: db).filter(\.$id ~~ users).all() { names["user:" + u.id!.uuidString.lowercased()] = u.email }
        }
        return names
    }

    /// A target as a reader knows it: "Account studio", "User ann@example.com", "Tier S0";
    /// the stored id stays on it as its title (and is what the filter searches).
    static func targetNode(_ target: String, names: [String: String]) -> HNode {
        let kind = target.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        let rest = String(target.dropFirst(kind.count + 1))
        let noun = ["account": "Account", "user": "User", "tier": "Tier"][kind]
        guard let noun, !rest.isEmpty else { return H.el("code", [], [H.text(target)]) }
        let name = kind == "tier" ? rest : (names[target] ?? "(deleted)")
        return H.el("span", [("title", target), ("class", "audit-target")], [H.text(noun + " "), H.el("strong", [], [H.text(name)])])
    }

    static func node(before: String?, after: String?) -> HNode {
        let list = changes(before: before, after: after)
        if list.isEmpty { return H.el("span", [("class", "hint")], [H.text("No field changed")]) }
        return H.el("ul", [("class", "diff")], list.map { c in
            H.el("li", [], [H.el("strong", [], [H.text(label(c.field) + ": ")]),
                            H.el("del", [], [H.text(c.before ?? "—")]), H.text(" → "), H.el("ins", [], [H.text(c.after ?? "—")])])
        })
    }
}
