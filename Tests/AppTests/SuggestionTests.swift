@testable import App
import Fluent
import Foundation
import XCTVapor

/// Smart labeling on a project trained with half its images tagged: the untagged half is
/// suggested back by tag, sorted, paged and counted.
final class SuggestionTests: XCTestCase {
    func testSuggestionsFindTheUntaggedImagesOfATag() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let account = try await app.makeAccount(token: token, email: "smart@example.com", tier: "S0")
        let key = trainingKey(account)
        // Suggestions count against the prediction rate; this test makes more than S0's 10 a second.
        _ = try await app.admin(.PUT, "accounts/\(account["id"] as! String)/overrides", token: token, body: #"{"transactionsPerSecond": "unlimited"}"#)
        let project = try await app.training(.POST, "projects?name=smart&classificationType=Multiclass", key: key).object["id"] as! String
        let colour = try await app.training(.POST, "projects/\(project)/tags?name=colour", key: key).object["id"] as! String
        let grey = try await app.training(.POST, "projects/\(project)/tags?name=grey", key: key).object["id"] as! String
        func created(_ r: APIResponse) -> [String] {
            (r.object["images"] as! [[String: Any]]).map { ($0["image"] as! [String: Any])["id"] as! String }
        }
        _ = try await app.upload(project, key: key, try distinctImages(8), tagIds: [colour])
        _ = try await app.upload(project, key: key, try greyImages(8), tagIds: [grey])
        let untaggedColour = Set(created(try await app.upload(project, key: key, try distinctImages(8, from: 40))))
        let untaggedGrey = Set(created(try await app.upload(project, key: key, try greyImages(16).suffix(8).map { $0 })))
        let iteration = try await app.training(.POST, "projects/\(project)/train", key: key).object["id"] as! String
        let _status = try await app.trainedStatus(project: project, iteration: iteration, key: key)
        XCTAssertEqual(_status, "Completed")

        let q = "projects/\(project)/images/suggested?iterationId=\(iteration)"
        let result = try await app.training(.POST, q, key: key, body: #"{"tagIds":["\#(colour)"],"threshold":0.5,"maxCount":256}"#)
        XCTAssertEqual(result.status, .ok, result.body)
        let found = (result.object["results"] as! [[String: Any]])
        let ids = Set(found.map { $0["id"] as! String })
        let precision = Double(ids.intersection(untaggedColour).count) / Double(max(1, ids.count))
        let recall = Double(ids.intersection(untaggedColour).count) / Double(untaggedColour.count)
        print("smart labeling, tag colour at 0.5: \(ids.count) suggested, precision \(precision), recall \(recall)")
        XCTAssertGreaterThanOrEqual(precision, 0.8)
        XCTAssertGreaterThanOrEqual(recall, 0.5)
        XCTAssertTrue(ids.isSubset(of: untaggedColour.union(untaggedGrey)), "only untagged images")
        let uncertainties = found.map { $0["predictionUncertainty"] as! Double }
        XCTAssertEqual(uncertainties, uncertainties.sorted(), "most certain first by default")
        XCTAssertTrue(found.allSatisfy { (($0["predictions"] as? [[String: Any]]) ?? []).allSatisfy { $0["tagId"] as? String == colour && ($0["probability"] as! Double) >= 0.5 } })
        XCTAssertNotNil(found.first?["thumbnailUri"] as? String)

        // Paging: two at a time, following the continuation, gives the same images in order.
        var paged: [String] = []
        var continuation: String?
        repeat {
            let body = #"{"tagIds":["\#(colour)"],"threshold":0.5,"maxCount":2\#(continuation.map { #","continuation":"\#($0)""# } ?? "")}"#
            let page = try await app.training(.POST, q, key: key, body: body)
            paged += (page.object["results"] as! [[String: Any]]).map { $0["id"] as! String }
            continuation = (page.object["token"] as? [String: Any])?["continuation"] as? String
        } while continuation != nil && paged.count < 100
        XCTAssertEqual(paged, found.map { $0["id"] as! String })

        let counts = try await app.training(.POST, "projects/\(project)/images/suggested/count?iterationId=\(iteration)", key: key,
                                            body: #"{"tagIds":["\#(colour)","\#(grey)"],"threshold":0.5}"#).object
        XCTAssertEqual(counts[colour] as? Int, ids.count)
        XCTAssertEqual((counts[colour] as? Int ?? 0) + (counts[grey] as? Int ?? 0), 16, "a multiclass model puts each image over 0.5 for one tag")

        // The same tag twice, in two cases, is counted once (it used to trap).
        let twice = try await app.training(.POST, "projects/\(project)/images/suggested/count?iterationId=\(iteration)", key: key,
                                           body: #"{"tagIds":["\#(colour)","\#(colour.uppercased())"],"threshold":0.5}"#)
        XCTAssertEqual(twice.object as NSDictionary, [colour: ids.count] as NSDictionary, twice.body)
        let two = Array(untaggedGrey.prefix(2))
        let suggested = try await app.training(.POST, "projects/\(project)/tagsandregions/suggestions?iterationId=\(iteration)&imageIds=\(two.joined(separator: ","))", key: key)
        XCTAssertEqual(suggested.status, .ok, suggested.body)
        XCTAssertEqual(Set(suggested.array.map { $0["id"] as! String }), Set(two))
        XCTAssertTrue(suggested.array.allSatisfy { (($0["predictions"] as? [[String: Any]])?.first?["tagName"] as? String) == "grey" }, suggested.body)
        let _v1 = try await Suggestion.query(on: app.db).count()
        XCTAssertEqual(_v1, 16, "each untagged image was predicted once and kept")
        // Each paid one prediction of the month's quota; with the quota spent, new images get none.
        let owner = try await Account.find(UUID(uuidString: account["id"] as! String), on: app.db)!
        let used = try await QuotaLedger.used(.predictionsPerMonth, account: owner, on: app.db)
        XCTAssertEqual(used, 16)
        _ = try await app.admin(.PUT, "accounts/\(account["id"] as! String)/overrides", token: token, body: #"{"predictionsPerMonth": 16}"#)
        _ = try await app.upload(project, key: key, try distinctImages(2, from: 90))
        let spent = try await app.training(.POST, q, key: key, body: #"{"threshold":0}"#)
        XCTAssertEqual(spent.code, "BadRequestExceededQuota", spent.body)
        let _used = try await QuotaLedger.used(.predictionsPerMonth, account: owner, on: app.db)
        XCTAssertEqual(_used, 16)
        _ = try await app.admin(.PUT, "accounts/\(account["id"] as! String)/overrides", token: token, body: #"{"predictionsPerMonth": "unlimited"}"#)

        // Bad input: no iteration, an unknown one, a threshold out of range, too many ids.
        let _v2 = try await app.training(.POST, "projects/\(project)/images/suggested", key: key, body: "{}").code
        XCTAssertEqual(_v2, "BadRequestRequiredParamIsNull")
        let _v3 = try await app.training(.POST, "projects/\(project)/images/suggested?iterationId=\(UUID().uuidString)", key: key, body: "{}").code
        XCTAssertEqual(_v3, "NotFoundIteration")
        let _v4 = try await app.training(.POST, q, key: key, body: #"{"threshold": 2}"#).code
        XCTAssertEqual(_v4, "BadRequest")
        let many = (0..<65).map { _ in UUID().uuidString }.joined(separator: ",")
        let _v5 = try await app.training(.POST, "projects/\(project)/tagsandregions/suggestions?iterationId=\(iteration)&imageIds=\(many)", key: key).code
        XCTAssertEqual(_v5, "BadRequest")
        try await app.asyncShutdown()
    }
}
