/// The images a trainer holds out to measure itself: a seeded share, at least one, never
/// all, and never so many that a tag is left without training images.
enum HeldOutFold {
    static func choose(tags: [Set<Int>], classes: Int, share: Double, seed: UInt64) -> Set<Int> {
        guard tags.count >= 2 else { return [] }
        var rng = SplitMix64(seed: seed)
        var order = Array(tags.indices)
        order.shuffle(using: &rng)
        let want = min(max(1, Int((Double(tags.count) * share).rounded())), tags.count - 1)
        var remaining = [Int](repeating: 0, count: classes)
        for s in tags { for t in s { remaining[t] += 1 } }
        var out = Set<Int>()
        for i in order where out.count < want {
            guard tags[i].allSatisfy({ remaining[$0] > 1 }) else { continue }
            for t in tags[i] { remaining[t] -= 1 }
            out.insert(i)
        }
        return out
    }
}
