@testable import App
import XCTest

/// The pace a training reports while it runs, and how the portal words it.
final class TrainingPaceTests: XCTestCase {
    func testImagesPerSecondCountFromTheImagePassAndTheEndExtrapolatesProgress() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        var pace = TrainingPace(started: start)
        XCTAssertNil(pace.imagesPerSecond(now: start.addingTimeInterval(5)), "no image pass yet")
        pace.imagesDone(0, now: start.addingTimeInterval(2))            // the pass begins 2 s in
        pace.imagesDone(16, now: start.addingTimeInterval(2.5))
        XCTAssertNil(pace.imagesPerSecond(now: start.addingTimeInterval(2.5)), "too soon to say")
        pace.imagesDone(400, now: start.addingTimeInterval(12))
        XCTAssertEqual(pace.imagesPerSecond(now: start.addingTimeInterval(12)) ?? 0, 40, accuracy: 1e-9)
        // 25 % done after 12 s: 36 s to go.
        XCTAssertEqual(pace.estimatedEnd(progress: 25, now: start.addingTimeInterval(12)), start.addingTimeInterval(48))
        XCTAssertNil(pace.estimatedEnd(progress: 0, now: start.addingTimeInterval(12)))
        XCTAssertNil(pace.estimatedEnd(progress: 100, now: start.addingTimeInterval(12)))
    }

    func testThePortalWordsThePace() {
        XCTAssertEqual(TrainingPages.paceText(imagesPerSecond: 40, secondsLeft: 36), "40 images/s · about 36 s left")
        XCTAssertEqual(TrainingPages.paceText(imagesPerSecond: 3.04, secondsLeft: 600), "3 images/s · about 10 min left")
        XCTAssertEqual(TrainingPages.paceText(imagesPerSecond: 2.46, secondsLeft: nil), "2.5 images/s")
        XCTAssertEqual(TrainingPages.paceText(imagesPerSecond: nil, secondsLeft: 0), "about 1 s left")
        XCTAssertEqual(TrainingPages.paceText(imagesPerSecond: nil, secondsLeft: nil), "")
    }
}
