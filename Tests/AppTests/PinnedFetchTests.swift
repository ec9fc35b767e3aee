@testable import App
import NIOSSL
import XCTVapor

/// https fetches go to the address the URL policy checked, and TLS still checks the name.
/// The test names live under `.test`, which never resolves: a fetch that asked DNS again
/// instead of using the checked address could not connect at all.
final class PinnedFetchTests: XCTestCase {
    private let tls = repoRoot + "/Tests/Fixtures/tls/"
    private let body = Data("not really a jpeg".utf8)

    /// A server on 127.0.0.1 with a certificate for images.pinned.test from the test root.
    private func tlsServer() async throws -> (Application, Int) {
        let server = try await Application.make(.testing)
        server.http.server.configuration.tlsConfiguration = .makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(tls + "server.pem").map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: tls + "server.key", format: .pem)))
        let body = self.body
        server.get("cat.jpg") { _ in Response(status: .ok, body: .init(data: body)) }
        try await server.server.start(address: .hostname("127.0.0.1", port: 0))
        return (server, server.http.server.shared.localAddress!.port!)
    }

    private func pinned(_ app: Application) throws -> PinnedHTTPClient {
        var config = app.http.client.configuration
        var tlsConfig = TLSConfiguration.makeClientConfiguration()
        tlsConfig.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(tls + "root.pem"))
        config.tlsConfiguration = tlsConfig
        return PinnedHTTPClient(shared: app.http.client.shared, configuration: config, eventLoopGroup: app.eventLoopGroup)
    }

    private let policy = URLPolicy(enabled: true, allowLoopback: true, resolver: { host in
        host.hasSuffix(".pinned.test") ? [[127, 0, 0, 1]] : []
    })

    func testHTTPSImageURLsGoToTheCheckedAddressAndKeepTheirName() async throws {
        let app = try await makeApp()
        let (server, port) = try await tlsServer()
        let fetcher = ImageURLFetcher(http: try pinned(app), policy: policy, logger: app.logger)
        if case .success(let got) = await fetcher.fetch("https://images.pinned.test:\(port)/cat.jpg") {
            XCTAssertEqual(got, body)
        } else {
            XCTFail("the checked address was not used")
        }
        // Same address, another name: the certificate does not match, so nothing is fetched.
        if case .success = await fetcher.fetch("https://other.pinned.test:\(port)/cat.jpg") {
            XCTFail("TLS accepted a certificate for another name")
        }
        // Without the test root the server's certificate is not trusted.
        let untrusted = ImageURLFetcher(http: app.pinnedHTTP, policy: policy, logger: app.logger)
        if case .success = await untrusted.fetch("https://images.pinned.test:\(port)/cat.jpg") {
            XCTFail("an untrusted certificate was accepted")
        }
        await server.server.shutdown()
        try await server.asyncShutdown()
        try await app.asyncShutdown()
    }

    func testImportsDownloadOverHTTPSFromTheCheckedAddress() async throws {
        let app = try await makeApp()
        let (server, port) = try await tlsServer()
        let source = CustomVisionSource(endpoint: "https://images.pinned.test:\(port)", trainingKey: "k",
                                        http: try pinned(app), policy: policy)
        do {
            let got = try await source.download("https://images.pinned.test:\(port)/cat.jpg")
            XCTAssertEqual(got, body)
        } catch {
            XCTFail("the checked address was not used: \(error)")
        }
        await server.server.shutdown()
        try await server.asyncShutdown()
        try await app.asyncShutdown()
    }
}
