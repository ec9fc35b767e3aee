@testable import App
import Fluent
import Foundation
import VisionEngine
import XCTVapor

/// The stored-prediction query reads tag probabilities from the stored results in SQL
/// (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL); the same filters applied
/// to the decoded results in memory are the reference.
final class StoredPredictionQueryTests: XCTestCase {
    func testTagRangesIterationWindowOrderAndPages() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "stored@example.com", tier: "S0"))
        let projectID = UUID(uuidString: try await app.training(.POST, "projects?name=stored", key: key).object["id"] as! String)!
        let tags = (0..<3).map { _ in UUID().uuidString.lowercased() }
        let iterations = [UUID(), UUID()]
        var rng = SplitMix64(seed: 11)
        var rows: [(StoredPrediction, [WirePrediction])] = []
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for i in 0..<60 {
            let results = tags.map { WirePrediction(probability: Float(rng.next() % 1000) / 1000, tagId: $0, tagName: "t", tagType: "Regular") }
            let row = StoredPrediction()
            row.id = UUID(); row.projectID = projectID; row.iterationID = iterations[i % 2]; row.blobHash = "b\(i)"
            row.createdAt = start.addingTimeInterval(Double(i / 3))  // threes share a time: the id orders them
            row.resultsJSON = String(decoding: try JSONEncoder().encode(results), as: UTF8.self)
            try await row.create(on: app.db)
            rows.append((row, results))
        }
        let ordered = rows.sorted { ($0.0.createdAt, $0.0.id!.uuidString) < ($1.0.createdAt, $1.0.id!.uuidString) }
        // Thresholds on values the results hold (every thousandth), so the bounds are tested.
        let ranges: [[StoredPredictionQuery.TagRange]] = [[], [.init(tagID: tags[0], min: 0.5, max: 1)],
            [.init(tagID: tags[1], min: 0.2, max: 0.6), .init(tagID: tags[2], min: 0, max: 0.5)], [.init(tagID: "nothing", min: 0, max: 1)]]
        var seen = 0
        for range in ranges {
            for iteration in [nil, iterations[1]] {
                for window in [nil, (start.addingTimeInterval(3), start.addingTimeInterval(12))] {
                    for newestFirst in [true, false] {
                        let q = StoredPredictionQuery(iteration: iteration, start: window?.0, end: window?.1, tags: range, newestFirst: newestFirst)
                        let expected = (newestFirst ? ordered.reversed() : ordered).filter { row, results in
                            (iteration == nil || row.iterationID == iteration)
                                && (window == nil || (row.createdAt >= window!.0 && row.createdAt <= window!.1))
                                && range.allSatisfy { r in results.contains { $0.tagId == r.tagID && $0.probability >= Float(r.min) && $0.probability <= Float(r.max) } }
                        }.map { $0.0.id! }
                        var got: [UUID] = [], offset = 0, more = true
                        while more {
                            let page = try await q.page(project: projectID, offset: offset, count: 7, on: app.db)
                            got += page.rows.map { $0.id! }
                            offset += page.rows.count
                            more = page.more
                            XCTAssertLessThanOrEqual(offset, 60)
                        }
                        XCTAssertEqual(got, expected, "\(range) \(String(describing: iteration)) \(String(describing: window)) \(newestFirst)")
                        seen += expected.count
                    }
                }
            }
        }
        XCTAssertGreaterThan(seen, 300, "the filters find rows to compare")

        // Through the API: one tag's range, two pages joined by the continuation.
        let body = #"{"maxCount":5,"orderBy":"Oldest","tags":[{"id":"\#(tags[0])","minThreshold":0.5,"maxThreshold":1}]}"#
        let first = try await app.training(.POST, "projects/\(projectID.uuidString)/predictions/query", key: key, body: body)
        XCTAssertEqual(first.status, .ok, first.body)
        let results = first.object["results"] as? [[String: Any]] ?? []
        let expected = ordered.filter { $0.1.contains { $0.tagId == tags[0] && $0.probability >= 0.5 } }.map { $0.0.id!.uuidString.lowercased() }
        XCTAssertEqual(results.map { $0["id"] as? String ?? "" }, Array(expected.prefix(5)))
        let continuation = (first.object["token"] as? [String: Any])?["continuation"] as? String
        XCTAssertEqual(continuation, expected.count > 5 ? "5" : nil)
        try await app.asyncShutdown()
    }
}
