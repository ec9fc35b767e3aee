@testable import App
import NIOCore
import NIOPosix
import XCTVapor
import Crypto
import SQLKit

/// Portal imports from Custom Vision: one unfinished run per user, a bounded number per
/// process; the source's numbers are not believed past what makes sense.
final class ImportRunLimitTests: XCTestCase {
    /// A source on 127.0.0.1 that accepts connections and never answers: runs stay unfinished.
    private func silentSource(_ app: Application) async throws -> Channel {
        try await ServerBootstrap(group: app.eventLoopGroup)
            .childChannelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func testOneUnfinishedRunPerUserAndABoundPerProcess() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let listener = try await silentSource(app)
        let endpoint = "http://127.0.0.1:\(listener.localAddress!.port!)"
        let runs = app.customVisionImports
        func start(_ n: Int) async throws -> UUID {
            let acct = try await app.makeAccount(token: token, email: "imp\(n)@example.com", tier: "S0")
            let account = try await Account.find(UUID(uuidString: acct["id"] as! String), on: app.db)!
            let source = CustomVisionSource(endpoint: endpoint, trainingKey: "k", http: app.pinnedHTTP,
                                            policy: URLPolicy(enabled: true, allowLoopback: true))
            return try await runs.start(user: UUID(uuidString: "00000000-0000-0000-0000-00000000000\(n % 10)")!, account: account, endpoint: endpoint,
                                  importer: CustomVisionImporter(app: app, source: source, account: account),
                                  projects: ["p"], train: false, progress: CustomVisionImporter.Progress())
        }
        let first = try await start(1)
        do { _ = try await start(11); XCTFail("a user's second run while the first is unfinished") } catch is CustomVisionImportRuns.Busy {}
        for n in 2..<(1 + CustomVisionImportRuns.inProcess) { _ = try await start(n) }
        do { _ = try await start(9); XCTFail("past the runs one process may hold") } catch is CustomVisionImportRuns.Busy {}
        let run = try await runs.run(first, user: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!)
        XCTAssertNotNil(run)
        XCTAssertFalse(run!.report.finished)
        // Another node's view of the same run: the same rows, read from the database.
        let elsewhere = CustomVisionImportRuns(db: app.db, signingKey: app.blobSigner.key)
        let seen = try await elsewhere.run(first, user: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!)
        XCTAssertEqual(seen?.accountID, run?.accountID)
        let stranger = try await elsewhere.run(first, user: UUID())
        XCTAssertNil(stranger, "a run is its user's only")
        // A cancel asked of another node reaches the node running the import within a beat or two.
        try await elsewhere.cancel(first, user: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!)
        var finished = false
        for _ in 0..<100 where !finished {
            try await Task.sleep(nanoseconds: 100_000_000)
            finished = try await elsewhere.run(first, user: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!)?.report.finished ?? false
        }
        XCTAssertTrue(finished)
        try await listener.close()
        try await app.asyncShutdown()
    }

    func testAListingIsReadOnAnyNodeWithItsKeySealed() async throws {
        let app = try await makeApp()
        let user = UUID()
        let runs = app.customVisionImports
        let id = try await runs.keep(.init(userID: user, endpoint: "https://westeurope.api.cognitive.microsoft.com",
                                           trainingKey: "the source's training key", projects: [.init(id: "p1", name: "Birds")],
                                           created: Date()))
        let stored = try await (app.db as! SQLDatabase).raw("SELECT sealed_key FROM import_listings").all()
        XCTAssertEqual(stored.count, 1)
        XCTAssertFalse(try stored[0].decode(column: "sealed_key", as: String.self).contains("training key"))
        let elsewhere = CustomVisionImportRuns(db: app.db, signingKey: app.blobSigner.key)
        let read = try await elsewhere.listing(id, user: user)
        XCTAssertEqual(read?.trainingKey, "the source's training key")
        XCTAssertEqual(read?.projects.map(\.name), ["Birds"])
        let otherUser = try await elsewhere.listing(id, user: UUID())
        XCTAssertNil(otherUser)
        let otherKey = try await CustomVisionImportRuns(db: app.db, signingKey: SymmetricKey(size: .bits256)).listing(id, user: user)
        XCTAssertNil(otherKey, "sealed under another BLOB_SIGNING_KEY")
        try await runs.forget(listing: id)
        let forgotten = try await runs.listing(id, user: user)
        XCTAssertNil(forgotten)
        try await app.asyncShutdown()
    }
}
