import Plot

typealias HNode = Node<HTML.BodyContext>

/// Small helpers over Plot's untyped element API. Plot escapes text but not attribute
/// values, so every attribute goes through `escape` here.
enum H {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func attr(_ name: String, _ value: String) -> HNode {
        .attribute(Attribute(name: name, value: escape(value), ignoreIfValueIsEmpty: false))
    }

    static func flag(_ name: String) -> HNode { .attribute(named: name) }

    static func el(_ name: String, _ attrs: [(String, String)] = [], _ children: [HNode] = []) -> HNode {
        .element(named: name, nodes: attrs.map { attr($0.0, $0.1) } + children)
    }

    /// Text, every `&` escaped too (Plot keeps what looks like an entity, so `&amp;` typed
    /// by a user would show, and be saved back, as `&`).
    static func text(_ s: String) -> HNode { .raw(escape(s)) }

    /// A fragment as HTML, for scripts that insert what the server rendered.
    static func render(_ n: HNode) -> String { n.render() }

    static func void(_ name: String, _ attrs: [(String, String)]) -> HNode {
        .selfClosedElement(named: name, attributes: attrs.map { Attribute<HTML.BodyContext>(name: $0.0, value: escape($0.1), ignoreIfValueIsEmpty: false) })
    }

    static func form(action: String, csrf: String, id: String? = nil, _ children: [HNode]) -> HNode {
        var attrs = [("method", "post"), ("action", action)]
        if let id { attrs.append(("id", id)) }
        return el("form", attrs, [void("input", [("type", "hidden"), ("name", "_csrf"), ("value", csrf)])] + children)
    }

    static func field(_ label: String, name: String, type: String = "text", value: String = "", id: String? = nil,
                      extra: [(String, String)] = []) -> HNode {
        el("label", [], [text(label),
                         void("input", [("type", type), ("name", name), ("value", value), ("id", id ?? name)] + extra)])
    }

    static func button(_ title: String, id: String? = nil, cls: String? = nil) -> HNode {
        var attrs = [("type", "submit")]
        if let id { attrs.append(("id", id)) }
        if let cls { attrs.append(("class", cls)) }
        return el("button", attrs, [text(title)])
    }

    static func link(_ title: String, _ href: String, id: String? = nil) -> HNode {
        el("a", [("href", href)] + (id.map { [("id", $0)] } ?? []), [text(title)])
    }

    /// A table; on narrow screens (`cards`) each row becomes a card, every cell labelled by
    /// its column's heading, so no column hides off screen.
    static func table(head: [String], rows: [[HNode]], id: String? = nil, cards: Bool = true) -> HNode {
        el("table", (id.map { [("id", $0)] } ?? []) + (cards ? [("class", "cards")] : []), [
            el("thead", [], [el("tr", [], head.map { el("th", [], [text($0)]) })]),
            el("tbody", [], rows.map { el("tr", [], $0.enumerated().map { i, cell in
                el("td", i < head.count && !head[i].isEmpty ? [("data-label", head[i])] : [], [cell])
            }) }),
        ])
    }

    /// A bar's fill: a fraction shown as a whole percent, 0 to 100 (NaN and infinities too).
    static func fill(_ fraction: Double) -> HNode {
        let pct = fraction.isFinite ? Int((min(1, max(0, fraction)) * 100).rounded(.down)) : 0
        return el("div", [("class", "bar")], [el("div", [("class", "fill"), ("style", "width:\(pct)%")])])
    }

    /// A usage bar: used against a limit (nil = unlimited).
    static func usageBar(label: String, used: Int?, limit: Int?, name: String) -> HNode {
        // Grouped digits, as the tier table writes limits ("13 / 50,000").
        let usedText = used.map { $0.formatted() } ?? "–"
        let limitText = limit.map { $0.formatted() } ?? "unlimited"
        var fraction = 0.0
        if let used, let limit { fraction = limit == 0 ? 1 : Double(used) / Double(limit) }
        // Amber from 80 % of a limit, red at it, so the reader sees what needs attention.
        let state = limit == nil ? "" : fraction >= 1 ? " at" : fraction >= 0.8 ? " near" : ""
        return el("div", [("class", "usage" + state), ("data-quota", name)], [
            el("span", [("class", "usage-label")], [text("\(label): ")]),
            el("span", [("class", "usage-value")], [text("\(usedText) / \(limitText)")]),
            fill(fraction),
        ])
    }
}
