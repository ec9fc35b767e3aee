@testable import App
import Foundation
import XCTVapor

/// `get_artifact` serves a project's own stored images by the relative path their records
/// name, and nothing else.
final class ArtifactTests: XCTestCase {
    func testArtifactsServeTheProjectsOwnImagesOnly() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "art@example.com", tier: "S0"))
        let otherKey = trainingKey(try await app.makeAccount(token: token, email: "other-art@example.com", tier: "S0", name: "other"))
        let project = try await app.training(.POST, "projects?name=art", key: key).object["id"] as! String
        let second = try await app.training(.POST, "projects?name=second", key: key).object["id"] as! String
        let theirs = try await app.training(.POST, "projects?name=theirs", key: otherKey).object["id"] as! String
        let original = try distinctImages(1, from: 9)[0]
        let up = try await app.upload(project, key: key, [original])
        let image = ((up.object["images"] as! [[String: Any]])[0]["image"] as! [String: Any])
        func path(_ uri: String) -> String { URLComponents(string: uri)!.path }

        func artifact(_ p: String, _ path: String, key: String) async throws -> (HTTPStatus, Data, String?) {
            let q = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let res = try await app.testable().sendRequest(.GET, "/customvision/v3.4-preview/training/projects/\(p)/artifacts?path=\(q)",
                                                           headers: ["Training-Key": key])
            let code = try? JSONSerialization.jsonObject(with: Data(buffer: res.body)) as? [String: Any]
            return (res.status, Data(buffer: res.body), code?["code"] as? String)
        }
        let (status, bytes, _) = try await artifact(project, path(image["originalImageUri"] as! String), key: key)
        XCTAssertEqual(status, .ok)
        XCTAssertEqual(bytes, original, "the original bytes as uploaded")
        let (thumbStatus, thumb, _) = try await artifact(project, image["thumbnailUri"] as! String, key: key)
        XCTAssertEqual(thumbStatus, .ok, "a whole URI is read for its path")
        XCTAssertEqual(BlobController.mediaType(thumb), "image/jpeg")

        // The same path through another project of the same account, another account's
        // project, a path outside the store, nothing at all.
        let own = path(image["originalImageUri"] as! String)
        for (p, k, candidate) in [(second, key, own), (theirs, otherKey, own), (project, key, "blobs/../../etc/passwd"),
                                  (project, key, "/blobs/" + String(repeating: "0", count: 64)), (project, key, "images/x")] {
            let (s, _, code) = try await artifact(p, candidate, key: k)
            XCTAssertEqual(s, .badRequest, candidate)
            XCTAssertEqual(code, "BadRequestInvalidArtifactUri", candidate)
        }
        let (missing, _, missingCode) = try await artifact(project, "", key: key)
        XCTAssertEqual(missing, .badRequest)
        XCTAssertEqual(missingCode, "BadRequestRequiredParamIsNull")
        let (stranger, _, _) = try await artifact(project, own, key: otherKey)
        XCTAssertEqual(stranger, .notFound, "another account's key does not see the project")
        try await app.asyncShutdown()
    }
}
