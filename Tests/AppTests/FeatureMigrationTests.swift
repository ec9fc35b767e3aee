@testable import App
import Fluent
import Foundation
import Migrations
import XCTVapor

/// Cached features that no job reads any more are dropped by migrations, and only those.
final class FeatureMigrationTests: XCTestCase {
    func testFeatureMigrationsDropOnlyTheViewNumbersOfOldPreprocessing() async throws {
        let app = try await makeApp()
        // 5: a centre-crop view (before whole-image framing); 105: a whole-image view
        // resized by libvips' own resize; 200 and 301: views of today's scheme.
        for view in [5, 105, 200, 301] {
            let row = StoredFeature()
            row.blobHash = String(repeating: "cd", count: 32); row.backbone = "lite0@224"; row.view = view
            row.vector = Data(count: 16)
            try await row.create(on: app.db)
        }
        func views() async throws -> [Int] { try await StoredFeature.query(on: app.db).all().map(\.view).sorted() }
        try await M0026_DropCentreCropFeatures().prepare(on: app.db)
        let afterCentreCrop = try await views()
        XCTAssertEqual(afterCentreCrop, [105, 200, 301])
        try await M0027_DropLibvipsResizedFeatures().prepare(on: app.db)
        let afterResize = try await views()
        XCTAssertEqual(afterResize, [200, 301])
        try await app.asyncShutdown()
    }
}
