/// Tiers side by side, one column each, one row per limit: what a user compares when
/// choosing a tier and what an operator edits.
enum TierTable {
    static func node(_ tiers: [Tier], id: String) -> HNode {
        let rows: [[HNode]] = Quota.allCases.map { q in
            [H.text(q.label)] + tiers.map { H.text($0.limit(q).map { $0.formatted() } ?? "Unlimited") }
        } + [[H.text("Object detection")] + tiers.map { H.text($0.objectDetection ? "Yes" : "No") }]
        return H.el("div", [("class", "table-wrap")], [
            H.table(head: ["Limit"] + tiers.map { "\($0.code) — \($0.name)" }, rows: rows, id: id, cards: false),
        ])
    }
}
