@testable import App
import Fluent
import Foundation
import SQLKit
import XCTVapor

/// The label counters (`images.label_count`, `tags.image_count`, kept by triggers) agree
/// with a recount after concurrent writers: boxes of one tag added to one image at once,
/// two batches tagging the same images in opposite orders (no deadlock), removals.
final class LabelCounterTests: XCTestCase {
    func testCountersAgreeWithARecountUnderConcurrentWriters() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "count@example.com", tier: "S0"))
        let projectID = try await app.training(.POST, "projects?name=count", key: key).object["id"] as! String
        let found = try await Project.find(UUID(uuidString: projectID), on: app.db)
        let project = try XCTUnwrap(found)
        let tagA = try await app.training(.POST, "projects/\(projectID)/tags?name=a", key: key).object["id"] as! String
        let tagB = try await app.training(.POST, "projects/\(projectID)/tags?name=b", key: key).object["id"] as! String
        var images: [UUID] = []
        for i in 0..<24 {
            let img = ImageRecord()
            img.id = UUID(); img.projectID = project.id!; img.originalHash = "o\(i)"; img.resizedHash = "r"; img.thumbnailHash = "t"
            img.format = "jpeg"; img.width = 10; img.height = 10; img.metadataJSON = "{}"; img.createdAt = Date()
            try await img.create(on: app.db)
            images.append(img.id!)
        }
        let service = ImageService(db: app.db)

        // Eight writers box one image with one tag at once: the tag counts the image once.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<8 {
                group.addTask {
                    _ = try await service.addRegions(project: project, entries: [.init(imageId: images[0].uuidString, tagId: tagB,
                                                                                      left: 0.01 * Double(n), top: 0.1, width: 0.2, height: 0.2)])
                }
            }
            try await group.waitForAll()
        }
        // Two batches tag the same images in opposite orders, and one more boxes some of them.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for order in [images, images.reversed()] {
                group.addTask {
                    _ = try await service.addTags(project: project, pairs: order.map { .init(imageId: $0.uuidString, tagId: tagA) })
                }
            }
            group.addTask {
                _ = try await service.addRegions(project: project, entries: images.prefix(12).reversed().map {
                    .init(imageId: $0.uuidString, tagId: tagA, left: 0.5, top: 0.5, width: 0.1, height: 0.1)
                })
            }
            do { try await group.waitForAll() } catch { XCTFail(String(reflecting: error)); throw error }
        }
        try await assertCountersMatchRecount(app.db)
        try await ImageCounters(db: app.db).fold()
        let pending = try await (app.db as! SQLDatabase).raw("SELECT COUNT(*) AS n FROM count_changes").first()?.decode(column: "n", as: Int.self)
        XCTAssertEqual(pending, 0, "a fold leaves no change pending")
        try await assertCountersMatchRecount(app.db)
        let counts = try await service.imageCounts(project: project)
        XCTAssertEqual(counts[UUID(uuidString: tagA)!], 24)
        XCTAssertEqual(counts[UUID(uuidString: tagB)!], 1)

        // Removals at once: links of half the images, all the boxes of image 0.
        let boxes = try await ImageRegion.query(on: app.db).filter(\.$imageID == images[0]).all().compactMap(\.id)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.removeTags(project: project, imageIDs: Array(images.prefix(12)), tagIDs: [UUID(uuidString: tagA)!]) }
            for part in stride(from: 0, to: boxes.count, by: 3) {
                let ids = Array(boxes[part..<min(part + 3, boxes.count)])
                group.addTask { try await service.removeRegions(project: project, ids: ids) }
            }
            try await group.waitForAll()
        }
        try await assertCountersMatchRecount(app.db)
        let after = try await service.imageCounts(project: project)
        XCTAssertEqual(after[UUID(uuidString: tagA)!], 23, "images 1–11 keep tag a by their box; image 0 lost both")
        XCTAssertNil(after[UUID(uuidString: tagB)!])
        let untagged = try await service.count(project: project, ImageQuery(tagging: .untagged))
        XCTAssertEqual(untagged, 1)

        // Boxes removed across many images while others are added and a tag is added to all,
        // each writer meeting the images in its own order: no deadlock, counters agree.
        let spread = try await ImageRegion.query(on: app.db).filter(\.$projectID == project.id!).all().compactMap(\.id).shuffled()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.removeRegions(project: project, ids: spread) }
            group.addTask {
                _ = try await service.addRegions(project: project, entries: images.suffix(12).map {
                    .init(imageId: $0.uuidString, tagId: tagB, left: 0.2, top: 0.2, width: 0.1, height: 0.1)
                })
            }
            group.addTask { _ = try await service.addTags(project: project, pairs: images.reversed().map { .init(imageId: $0.uuidString, tagId: tagB) }) }
            group.addTask { try await service.removeTags(project: project, imageIDs: images.shuffled(), tagIDs: [UUID(uuidString: tagA)!]) }
            do { try await group.waitForAll() } catch { XCTFail(String(reflecting: error)); throw error }
        }
        try await assertCountersMatchRecount(app.db)
        let spreadCounts = try await service.imageCounts(project: project)
        XCTAssertEqual(spreadCounts[UUID(uuidString: tagB)!], 24)
        XCTAssertNil(spreadCounts[UUID(uuidString: tagA)!])

        // Images deleted (their labels with them): every counter follows.
        let account = try await Account.find(project.accountID, on: app.db)
        _ = try await service.delete(account: account!, project: project, ids: Array(images.suffix(4)))
        try await assertCountersMatchRecount(app.db)
        let total = try await service.count(project: project, ImageQuery())
        XCTAssertEqual(total, 20)
        let tagged = try await service.count(project: project, ImageQuery(tagIDs: [UUID(uuidString: tagB)!]))
        XCTAssertEqual(tagged, 20)
        let beyond = try await service.list(project: project, ImageQuery(skip: 20))
        XCTAssertEqual(beyond.count, 0)
        try await app.asyncShutdown()
    }

    private func assertCountersMatchRecount(_ db: Database, file: StaticString = #filePath, line: UInt = #line) async throws {
        let sql = db as! SQLDatabase
        let images = try await sql.raw("""
            SELECT COUNT(*) AS n FROM images WHERE label_count <> (SELECT COUNT(*) FROM image_tags l WHERE l.image_id = images.id)
              + (SELECT COUNT(*) FROM image_regions r WHERE r.image_id = images.id)
            """).first()?.decode(column: "n", as: Int.self)
        XCTAssertEqual(images, 0, "images whose label_count is off", file: file, line: line)
        let tags = try await sql.raw("""
            SELECT COUNT(*) AS n FROM tags WHERE image_count
              + COALESCE((SELECT SUM(c.delta) FROM count_changes c WHERE c.owner = tags.id), 0) <> (SELECT COUNT(*) FROM (
              SELECT image_id FROM image_tags l WHERE l.tag_id = tags.id
              UNION SELECT image_id FROM image_regions r WHERE r.tag_id = tags.id) AS carrying)
            """).first()?.decode(column: "n", as: Int.self)
        XCTAssertEqual(tags, 0, "tags whose image_count is off", file: file, line: line)
        let projects = try await sql.raw("""
            SELECT COUNT(*) AS n FROM projects WHERE image_count
              + COALESCE((SELECT SUM(c.delta) FROM count_changes c WHERE c.owner = projects.id), 0)
              <> (SELECT COUNT(*) FROM images WHERE images.project_id = projects.id)
            """).first()?.decode(column: "n", as: Int.self)
        XCTAssertEqual(projects, 0, "projects whose image_count is off", file: file, line: line)
    }
}
