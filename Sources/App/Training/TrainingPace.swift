import Foundation

/// How fast a training goes: images per second through the backbone (counted from the
/// image pass's start, cached images included, so a retrain shows how quickly it gets past
/// what it has seen), and its end, extrapolated from the progress made since it started.
struct TrainingPace: Sendable {
    let started: Date
    private var pass: (started: Date, done: Int)?

    init(started: Date) { self.started = started }

    /// Called with 0 when the pass begins, then with the count after each chunk.
    mutating func imagesDone(_ done: Int, now: Date = Date()) {
        if pass == nil { pass = (now, 0) }
        pass!.done = max(0, done)
    }

    /// Nil until a second has passed since the image pass began.
    func imagesPerSecond(now: Date = Date()) -> Double? {
        guard let pass else { return nil }
        let seconds = now.timeIntervalSince(pass.started)
        return seconds >= 1 ? Double(pass.done) / seconds : nil
    }

    /// Progress runs 0–100 over the whole training; the time each point took so far is
    /// the time each remaining point is expected to take. Nil before any progress.
    func estimatedEnd(progress: Int, now: Date = Date()) -> Date? {
        guard progress > 0, progress < 100 else { return nil }
        let elapsed = now.timeIntervalSince(started)
        return now.addingTimeInterval(elapsed * Double(100 - progress) / Double(progress))
    }
}
