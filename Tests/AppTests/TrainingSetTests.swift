@testable import App
import Fluent
import Foundation
import XCTVapor

/// Image and tag queries with `iterationId` answer from what that iteration trained on,
/// after the project has changed since.
final class TrainingSetTests: XCTestCase {
    func testQueriesByIterationAnswerWhatItTrainedOn() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "set@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=set", key: key).object["id"] as! String
        let other = try await app.training(.POST, "projects?name=other", key: key).object["id"] as! String
        func ids(_ r: APIResponse) -> Set<String> { Set(r.array.compactMap { $0["id"] as? String }) }
        func created(_ r: APIResponse) -> [String] {
            (r.object["images"] as! [[String: Any]]).map { ($0["image"] as! [String: Any])["id"] as! String }
        }
        let colour = try await app.training(.POST, "projects/\(project)/tags?name=colour", key: key).object["id"] as! String
        let grey = try await app.training(.POST, "projects/\(project)/tags?name=grey", key: key).object["id"] as! String
        let colourImages = created(try await app.upload(project, key: key, try distinctImages(6), tagIds: [colour]))
        let greyImages = created(try await app.upload(project, key: key, try greyImages(6), tagIds: [grey]))
        let untagged = created(try await app.upload(project, key: key, try distinctImages(2, from: 70)))
        _ = try await app.training(.POST, "projects/\(project)/images/metadata?imageIds=\(colourImages[0])", key: key, body: #"{"site":"north"}"#)

        let started = try await app.training(.POST, "projects/\(project)/train", key: key)
        let iteration = try XCTUnwrap(started.object["id"] as? String, started.body)
        let _status = try await app.trainedStatus(project: project, iteration: iteration, key: key)
        XCTAssertEqual(_status, "Completed")
        let before = try await app.training(.GET, "projects/\(project)/images?take=256", key: key).array

        // Since then: an image added, one retagged, one deleted, a tag renamed and a new one
        // used, metadata changed, an untagged image deleted.
        let later = try await app.training(.POST, "projects/\(project)/tags?name=later", key: key).object["id"] as! String
        let added = created(try await app.upload(project, key: key, try distinctImages(1, from: 90), tagIds: [later]))
        _ = try await app.training(.DELETE, "projects/\(project)/images/tags?imageIds=\(greyImages[0])&tagIds=\(grey)", key: key)
        _ = try await app.training(.POST, "projects/\(project)/images/tags", key: key,
                                   body: #"{"tags":[{"imageId":"\#(greyImages[0])","tagId":"\#(later)"}]}"#)
        let deleted = colourImages[1]
        let _v1 = try await app.training(.DELETE, "projects/\(project)/images?imageIds=\(deleted),\(untagged[0])", key: key).status
        XCTAssertEqual(_v1, .noContent)
        _ = try await app.training(.PATCH, "projects/\(project)/tags/\(grey)", key: key, body: #"{"name":"gray"}"#)
        _ = try await app.training(.POST, "projects/\(project)/images/metadata?imageIds=\(colourImages[0])", key: key, body: #"{"site":"south"}"#)

        let q = "iterationId=\(iteration)"
        let all = Set(colourImages + greyImages + untagged)
        let images = try await app.training(.GET, "projects/\(project)/images?\(q)&take=256", key: key)
        XCTAssertEqual(ids(images), all, images.body)
        let current = try await app.training(.GET, "projects/\(project)/images", key: key)
        XCTAssertEqual(ids(current), all.subtracting([deleted, untagged[0]]).union(added))
        let _v2 = try await app.training(.GET, "projects/\(project)/images/count?\(q)", key: key).body
        XCTAssertEqual(_v2, "14")
        let _v3 = try await app.training(.GET, "projects/\(project)/images/tagged/count?\(q)", key: key).body
        XCTAssertEqual(_v3, "12")
        let _v4 = try await app.training(.GET, "projects/\(project)/images/untagged/count?\(q)", key: key).body
        XCTAssertEqual(_v4, "2")
        let untaggedThen = try await app.training(.GET, "projects/\(project)/images/untagged?\(q)", key: key)
        XCTAssertEqual(ids(untaggedThen), Set(untagged))
        let greyAtTheTime = try await app.training(.GET, "projects/\(project)/images/tagged?\(q)&tagIds=\(grey)", key: key)
        XCTAssertEqual(ids(greyAtTheTime), Set(greyImages), "the retagged image still has its old tag")
        let retagged = greyAtTheTime.array.first { $0["id"] as? String == greyImages[0] }!
        XCTAssertEqual((retagged["tags"] as? [[String: Any]])?.compactMap { $0["tagName"] as? String }, ["grey"], "tags named as they were")
        let _v5 = try await app.training(.GET, "projects/\(project)/images/tagged/count?\(q)&tagIds=\(later)", key: key).body
        XCTAssertEqual(_v5, "0")
        let _v6 = try await app.training(.GET, "projects/\(project)/images/count?\(q)&$filter=\(urlEncode("site eq 'north'"))", key: key).body
        XCTAssertEqual(_v6, "1", "metadata as it was")
        // Every image reads back as it did before the changes, the deleted one included.
        let byIDs = try await app.training(.GET, "projects/\(project)/images/id?\(q)&imageIds=\(deleted),\(greyImages[0])", key: key)
        XCTAssertEqual(ids(byIDs), [deleted, greyImages[0]])
        for image in before {
            let then = images.array.first { $0["id"] as? String == image["id"] as? String }
            XCTAssertEqual(then?["width"] as? Int, image["width"] as? Int)
            // The same file (signed links carry their own expiry, so compare the paths).
            func path(_ o: [String: Any]?) -> String? { (o?["originalImageUri"] as? String).flatMap { URLComponents(string: $0)?.path } }
            XCTAssertEqual(path(then), path(image))
            XCTAssertEqual((then?["tags"] as? [[String: Any]])?.compactMap { $0["tagId"] as? String },
                           (image["tags"] as? [[String: Any]])?.compactMap { $0["tagId"] as? String })
        }
        // The deleted image's bytes stay while the iteration trained on them exists.
        let gone = byIDs.array.first { $0["id"] as? String == deleted }!
        let blob = try await app.testable().sendRequest(.GET, URLComponents(string: gone["originalImageUri"] as! String)!.path
            + "?" + (URLComponents(string: gone["originalImageUri"] as! String)!.query ?? ""))
        XCTAssertEqual(blob.status, .ok)

        let tags = try await app.training(.GET, "projects/\(project)/tags?\(q)", key: key).array
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: tags.map { ($0["name"] as! String, $0["imageCount"] as! Int) }), ["colour": 6, "grey": 6])
        let now = try await app.training(.GET, "projects/\(project)/tags", key: key).array
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: now.map { ($0["name"] as! String, $0["imageCount"] as! Int) }), ["colour": 5, "gray": 5, "later": 2])
        let _v7 = try await app.training(.GET, "projects/\(project)/tags/\(grey)?\(q)", key: key).object["name"] as? String
        XCTAssertEqual(_v7, "grey")
        let _v8 = try await app.training(.GET, "projects/\(project)/tags/\(later)?\(q)", key: key).code
        XCTAssertEqual(_v8, "NotFoundTag")

        // An unknown iteration, or another project's, is not found.
        for path in ["projects/\(project)/images?iterationId=\(UUID().uuidString)", "projects/\(other)/images/count?\(q)",
                     "projects/\(other)/tags?\(q)", "projects/\(project)/images?iterationId=nonsense"] {
            let _v9 = try await app.training(.GET, path, key: key).code
            XCTAssertEqual(_v9, "NotFoundIteration", path)
        }
        // Deleting the iteration deletes its record.
        let _v10 = try await app.training(.DELETE, "projects/\(project)/iterations/\(iteration)", key: key).status
        XCTAssertEqual(_v10, .noContent)
        let _v11 = try await TrainedImage.query(on: app.db).count() + (try await TrainedTag.query(on: app.db).count())
        XCTAssertEqual(_v11, 0)
        try await app.asyncShutdown()
    }
}
