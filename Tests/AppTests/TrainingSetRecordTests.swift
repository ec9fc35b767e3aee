@testable import App
import Fluent
import Foundation
import VisionEngine
import XCTVapor

/// An iteration's training set is copied by the database (`TrainingSet.record`, one
/// statement building the tags' and regions' JSON); loading it gives back exactly the
/// project's images, image tags and regions as they were, within a tag selection too.
final class TrainingSetRecordTests: XCTestCase {
    func testRecordedSetIsTheProjectAsItWas() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "record@example.com", tier: "S0"))
        let projectID = try await app.training(.POST, "projects?name=record", key: key).object["id"] as! String
        let found = try await Project.find(UUID(uuidString: projectID), on: app.db)
        let project = try XCTUnwrap(found)
        var tags: [UUID] = []
        for n in 0..<3 { tags.append(UUID(uuidString: try await app.training(.POST, "projects/\(projectID)/tags?name=t\(n)", key: key).object["id"] as! String)!) }
        var rng = SplitMix64(seed: 5)
        var links: [UUID: [ImageTagLink]] = [:], regions: [UUID: [ImageRegion]] = [:], images: [ImageRecord] = []
        let start = Date(timeIntervalSince1970: 1_800_000_000.123)
        for i in 0..<30 {
            let img = ImageRecord()
            img.id = UUID(); img.projectID = project.id!; img.originalHash = "o\(i)"; img.resizedHash = "r\(i)"; img.thumbnailHash = "t\(i)"
            img.format = "png"; img.width = 100 + i; img.height = 50 + i; img.metadata = i % 3 == 0 ? ["k": "v\(i)"] : [:]
            img.createdAt = start.addingTimeInterval(Double(i) * 1.25)
            try await img.create(on: app.db)
            images.append(img)
            for (k, t) in tags.enumerated() where rng.next() % 2 == 0 {
                // Made one after another, in the reverse of the tags' order.
                let l = ImageTagLink(imageID: img.id!, tagID: t, projectID: project.id!, at: img.createdAt.addingTimeInterval(0.5 - 0.1 * Double(k)))
                try await l.create(on: app.db)
                links[img.id!, default: []].append(l)
            }
            for n in 0..<Int(rng.next() % 3) {
                let r = ImageRegion()
                r.imageID = img.id!; r.tagID = tags[Int(rng.next() % 3)]; r.projectID = project.id!
                r.left = 0.125 * Double(n); r.top = 0.1; r.width = 0.3333; r.height = 0.25; r.createdAt = img.createdAt.addingTimeInterval(Double(n) + 0.25)
                try await r.create(on: app.db)
                regions[img.id!, default: []].append(r)
            }
        }
        for selection in [nil, Set([tags[0], tags[2]])] {
            let it = try await Iteration.forTest(project: project, number: selection == nil ? 1 : 2, status: "Training", on: app.db)
            let itID = it.id!
            try await app.db.transaction { tx in try await TrainingSet.record(iteration: itID, project: project.id!, selected: selection, on: tx) }
            let loaded = try await TrainingSet.load(iteration: it.id!, on: app.db)
            let set = try XCTUnwrap(loaded)
            let keep: (UUID) -> Bool = { selection?.contains($0) ?? true }
            XCTAssertEqual(set.tags.map(\.id!), tags.filter(keep))
            XCTAssertEqual(set.images.map(\.id!), images.map(\.id!))
            for (a, b) in zip(set.images, images) {
                XCTAssertEqual([a.originalHash, a.resizedHash, a.thumbnailHash, a.format, a.metadataJSON], [b.originalHash, b.resizedHash, b.thumbnailHash, b.format, b.metadataJSON])
                XCTAssertEqual([a.width, a.height], [b.width, b.height])
                XCTAssertEqual(a.createdAt.timeIntervalSince1970, b.createdAt.timeIntervalSince1970, accuracy: 1e-3)
                let wantLinks = (links[b.id!] ?? []).filter { keep($0.tagID) }.sorted { $0.createdAt < $1.createdAt }
                let gotLinks = set.links[b.id!] ?? []
                XCTAssertEqual(gotLinks.map(\.tagID), wantLinks.map(\.tagID), "links of image \(b.originalHash)")
                for (x, y) in zip(gotLinks, wantLinks) { XCTAssertEqual(x.createdAt.timeIntervalSince1970, y.createdAt.timeIntervalSince1970, accuracy: 1e-3) }
                let wantRegions = (regions[b.id!] ?? []).filter { keep($0.tagID) }
                let gotRegions = set.regions[b.id!] ?? []
                XCTAssertEqual(gotRegions.map(\.id!), wantRegions.map(\.id!), "regions of image \(b.originalHash)")
                for (x, y) in zip(gotRegions, wantRegions) {
                    XCTAssertEqual([x.left, x.top, x.width, x.height], [y.left, y.top, y.width, y.height])
                    XCTAssertEqual(x.tagID, y.tagID)
                    XCTAssertEqual(x.createdAt.timeIntervalSince1970, y.createdAt.timeIntervalSince1970, accuracy: 1e-3)
                }
            }
            XCTAssertGreaterThan(set.links.values.map(\.count).reduce(0, +), 10)
            XCTAssertGreaterThan(set.regions.values.map(\.count).reduce(0, +), 10)
        }
        try await app.asyncShutdown()
    }
}
