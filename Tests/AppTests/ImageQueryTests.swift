@testable import App
import Fluent
import Foundation
import VisionEngine
import XCTVapor

/// Image listings, counts and positions come from SQL (`ImageQuery.condition`); the same
/// filters answered in memory (`ImageQuery.select`, defined below) are the
/// reference. A seeded mix of image tags, regions, metadata and tied creation times, asked
/// every combination of tagging, tag and metadata filter, order and page.
final class ImageQueryTests: XCTestCase {
    func testSQLAnswersAsTheInMemoryFilters() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "query@example.com", tier: "S0"))
        let projectID = try await app.training(.POST, "projects?name=query", key: key).object["id"] as! String
        let found = try await Project.find(UUID(uuidString: projectID), on: app.db)
        let project = try XCTUnwrap(found)
        var tags: [UUID] = []
        for n in 0..<4 {
            tags.append(UUID(uuidString: try await app.training(.POST, "projects/\(projectID)/tags?name=t\(n)", key: key).object["id"] as! String)!)
        }

        var rng = SplitMix64(seed: 7)
        var rows: [ImageRecord] = []
        var labels: [UUID: Set<UUID>] = [:]
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for i in 0..<120 {
            let img = ImageRecord()
            img.id = UUID(); img.projectID = project.id!
            img.originalHash = "o\(i)"; img.resizedHash = "r\(i)"; img.thumbnailHash = "t\(i)"
            img.format = "jpeg"; img.width = 10; img.height = 10
            // Pairs of images share a creation time, so the id decides their order.
            img.createdAt = start.addingTimeInterval(Double(i / 2))
            var meta: [String: String] = [:]
            if rng.next() % 3 == 0 { meta["camera"] = rng.next() % 2 == 0 ? "a" : "b" }
            if rng.next() % 4 == 0 { meta["$site.x"] = "it's" }
            img.metadata = meta
            try await img.create(on: app.db)
            rows.append(img)
            switch rng.next() % 4 {
            case 0: break
            case 1:
                let t = tags[Int(rng.next() % 4)]
                try await ImageTagLink(imageID: img.id!, tagID: t, projectID: project.id!, at: img.createdAt).create(on: app.db)
                labels[img.id!, default: []].insert(t)
            default:
                for _ in 0..<(1 + rng.next() % 2) {
                    let r = ImageRegion()
                    r.imageID = img.id!; r.tagID = tags[Int(rng.next() % 4)]; r.projectID = project.id!
                    r.left = 0.1; r.top = 0.1; r.width = 0.5; r.height = 0.5; r.createdAt = img.createdAt
                    try await r.create(on: app.db)
                    labels[img.id!, default: []].insert(r.tagID)
                }
            }
        }
        let oldest = rows.sorted { ($0.createdAt, $0.id!.uuidString) < ($1.createdAt, $1.id!.uuidString) }
        let service = ImageService(db: app.db)
        let filters: [MetadataFilter?] = [nil, try MetadataFilter.parse("camera eq 'a'"), try MetadataFilter.parse("camera ne 'a'"),
                                          try MetadataFilter.parse("metadata/$site.x eq 'it''s' or (camera eq 'b' and camera ne 'a')")]
        // Every combination of tagging, tags, metadata filter and order.
        var queries: [ImageQuery] = []
        for tagging in [ImageQuery.Tagging.all, .tagged, .untagged] {
            for tagIDs in [[], [tags[0]], [tags[1], tags[3]]] {
                for filter in filters {
                    queries += [true, false].map { ImageQuery(tagIDs: tagIDs, tagging: tagging, filter: filter, newestFirst: $0) }
                }
            }
        }
        func expected(_ q: ImageQuery) -> [UUID] { q.select(q.newestFirst ? oldest.reversed() : oldest, tagsByImage: labels).map(\.id!) }
        var checked = 0
        for var q in queries {
            let expected = expected(q)
            let count = try await service.count(project: project, q)
            XCTAssertEqual(count, expected.count, "\(q)")
            let ids = try await service.ids(project: project, q)
            XCTAssertEqual(ids, expected, "\(q)")
            for (skip, take) in [(0, 7), (5, 256), (expected.count, 10), (1_000, 5)] {
                // Both tag-filter forms: probing in creation order, and from the tag's index.
                for deepFrom in [1_000, 0] {
                    q.skip = skip; q.take = take; q.deepFrom = deepFrom
                    let page = try await service.list(project: project, q).map(\.id!)
                    XCTAssertEqual(page, Array(expected.dropFirst(skip).prefix(take)), "\(q)")
                }
            }
            if let middle = expected.dropFirst(expected.count / 2).first {
                let place = try await service.position(of: rows.first { $0.id == middle }!, project: project, q)
                let i = expected.firstIndex(of: middle)!
                XCTAssertEqual(place.index, i); XCTAssertEqual(place.total, expected.count)
                XCTAssertEqual(place.previous, i > 0 ? expected[i - 1] : nil)
                XCTAssertEqual(place.next, i + 1 < expected.count ? expected[i + 1] : nil)
            }
            checked += expected.count
        }
        XCTAssertGreaterThan(checked, 500, "the seeded data gives the filters something to find")

        // The same filters over the project's recorded training set (an iteration's queries).
        let itID = try await Iteration.forTest(project: project, on: app.db).id!
        try await app.db.transaction { tx in try await TrainingSet.record(iteration: itID, project: project.id!, selected: nil, on: tx) }
        let recorded = TrainingSetQueries(db: app.db)
        for var q in queries {
            let expected = expected(q)
            let count = try await recorded.count(iteration: itID, q)
            XCTAssertEqual(count, expected.count, "recorded \(q)")
            for (skip, take) in [(0, 256), (3, 7)] {
                q.skip = skip; q.take = take
                let page = try await recorded.page(iteration: itID, q).images.map(\.id!)
                XCTAssertEqual(page, Array(expected.dropFirst(skip).prefix(take)), "recorded \(q)")
            }
        }
        var recordedCounts: [UUID: Int] = [:]
        for (_, ts) in labels { for t in ts { recordedCounts[t, default: 0] += 1 } }
        let _recordedCounts = try await recorded.imageCounts(iteration: itID)
        XCTAssertEqual(_recordedCounts, recordedCounts)

        // Deleting a tag takes its image tags and regions with it (a cascade): images left
        // with no label become untagged.
        let _deleted = try await app.training(.DELETE, "projects/\(projectID)/tags/\(tags[0].uuidString)", key: key).status
        XCTAssertEqual(_deleted, .noContent)
        for (image, ts) in labels { labels[image] = ts.subtracting([tags[0]]) }
        for tagging in [ImageQuery.Tagging.tagged, .untagged] {
            let q = ImageQuery(tagging: tagging)
            let ids = try await service.ids(project: project, q)
            XCTAssertEqual(ids, q.select(oldest.reversed(), tagsByImage: labels.filter { !$0.value.isEmpty }).map(\.id!), "\(tagging) after the tag went")
        }
        labels = labels.filter { !$0.value.isEmpty }

        var counts: [UUID: Int] = [:]
        for (_, ts) in labels { for t in ts { counts[t, default: 0] += 1 } }
        let _counts = try await service.imageCounts(project: project)
        XCTAssertEqual(_counts, counts)
        let _first = try await ProjectService.firstThumbnails([project.id!, UUID()], on: app.db)
        XCTAssertEqual(_first, [project.id!: oldest[0].thumbnailHash])
        try await app.asyncShutdown()
    }
}

extension ImageQuery {
    /// The reference: the rows (already in order) that pass the tagging, tag and metadata
    /// filters, answered in memory.
    func select(_ rows: [ImageRecord], tagsByImage tags: [UUID: Set<UUID>]) -> [ImageRecord] {
        var rows = rows
        if tagging != .all || !tagIDs.isEmpty {
            rows = rows.filter { img in
                let t = tags[img.id!] ?? []
                switch tagging {
                case .tagged where t.isEmpty: return false
                case .untagged where !t.isEmpty: return false
                default: break
                }
                return tagIDs.isEmpty || !t.isDisjoint(with: tagIDs)
            }
        }
        if let f = filter { rows = rows.filter { f.matches($0.metadata) } }
        return rows
    }
}

extension MetadataFilter {
    /// The reference semantics: `ne` matches a missing key.
    func matches(_ metadata: [String: String]) -> Bool {
        switch self {
        case .compare(let key, let equal, let value): return (metadata[key] == value) == equal
        case .and(let a, let b): return a.matches(metadata) && b.matches(metadata)
        case .or(let a, let b): return a.matches(metadata) || b.matches(metadata)
        }
    }
}
