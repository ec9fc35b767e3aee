import Fluent
import Foundation
import NIOConcurrencyHelpers
import VisionEngine

/// Progress and cancellation crossing between a training job's engine thread and the
/// database: the engine side reads and writes this box; a poller mirrors it.
final class TrainingControl: @unchecked Sendable {
    private let box: NIOLockedValueBox<(progress: Int, cancelled: Bool, pace: TrainingPace)>

    /// `started`: when the job began, for the expected end.
    init(started: Date) { box = NIOLockedValueBox((0, false, TrainingPace(started: started))) }

    /// Images through the backbone so far in this pass.
    func imagesDone(_ n: Int) { box.withLockedValue { $0.pace.imagesDone(n) } }

    var progress: Int {
        get { box.withLockedValue { $0.progress } }
        set { box.withLockedValue { $0.progress = newValue } }
    }
    var cancelled: Bool {
        get { box.withLockedValue { $0.cancelled } }
        set { box.withLockedValue { $0.cancelled = newValue } }
    }

    /// Mirrors progress to the iteration and cancellation from the job, twice a second,
    /// until the returned task is cancelled.
    func mirror(iteration iterationID: UUID, job: Job, queue: JobQueue, db: Database) -> Task<Void, Never> {
        Task { [self] in
            var reported = -1
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 500_000_000)
                if (try? await queue.isCancelled(job)) == true { cancelled = true }
                let (p, pace) = box.withLockedValue { ($0.progress, $0.pace) }
                if p != reported {
                    reported = p
                    try? await Iteration.query(on: db).filter(\.$id == iterationID).filter(\.$status == "Training")
                        .set(\.$progress, to: p).set(\.$imagesPerSecond, to: pace.imagesPerSecond())
                        .set(\.$estimatedEnd, to: pace.estimatedEnd(progress: p)).update()
                }
            }
        }
    }
}
