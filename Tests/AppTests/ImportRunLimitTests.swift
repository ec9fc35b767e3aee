@testable import App
import NIOCore
import NIOPosix
import XCTVapor

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
        let runs = CustomVisionImportRuns()
        func start(_ n: Int) async throws -> UUID {
            let acct = try await app.makeAccount(token: token, email: "imp\(n)@example.com", tier: "S0")
            let account = try await Account.find(UUID(uuidString: acct["id"] as! String), on: app.db)!
            let source = CustomVisionSource(endpoint: endpoint, trainingKey: "k", http: app.pinnedHTTP,
                                            policy: URLPolicy(enabled: true, allowLoopback: true))
            return try runs.start(user: UUID(uuidString: "00000000-0000-0000-0000-00000000000\(n % 10)")!, account: account, endpoint: endpoint,
                                  importer: CustomVisionImporter(app: app, source: source, account: account),
                                  projects: ["p"], train: false, progress: CustomVisionImporter.Progress())
        }
        let first = try await start(1)
        do { _ = try await start(11); XCTFail("a user's second run while the first is unfinished") } catch is CustomVisionImportRuns.Busy {}
        for n in 2..<(1 + CustomVisionImportRuns.inProcess) { _ = try await start(n) }
        do { _ = try await start(9); XCTFail("past the runs one process may hold") } catch is CustomVisionImportRuns.Busy {}
        let run = runs.run(first, user: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!)
        XCTAssertNotNil(run)
        XCTAssertFalse(run!.progress.report.finished)
        try await listener.close()
        try await app.asyncShutdown()
    }
}
