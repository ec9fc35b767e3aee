// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Sightline",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sightline", targets: ["sightline"]),
        .library(name: "App", targets: ["App"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.0"),
        .package(url: "https://github.com/vapor/fluent.git", from: "4.13.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", from: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", from: "2.14.0"),
        .package(url: "https://github.com/JohnSundell/Plot.git", from: "0.14.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
    ],
    targets: [
        .systemLibrary(name: "CArgon2", path: "Sources/CArgon2", pkgConfig: "libargon2",
                       providers: [.apt(["libargon2-dev"])]),
        .systemLibrary(name: "CVips", path: "Sources/CVips", pkgConfig: "vips",
                       providers: [.apt(["libvips-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "COneDNN", path: "Sources/COneDNN",
                       providers: [.apt(["libdnnl-dev"])]),
        .target(name: "CHalfFloat", path: "Sources/CHalfFloat"),
        // The engine's own loops (preprocessing, heads) are numeric: optimise them even in
        // debug builds, so the test suite runs real training in seconds.
        .target(name: "VisionEngine", dependencies: ["CVips", "COpenBLAS", "COneDNN", "CHalfFloat", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Migrations", dependencies: [
            .product(name: "Fluent", package: "fluent"),
            .product(name: "SQLKit", package: "sql-kit"),
        ], path: "Migrations"),
        .target(name: "App", dependencies: [
            "CArgon2", "Migrations", "VisionEngine",
            .product(name: "Vapor", package: "vapor"),
            .product(name: "Fluent", package: "fluent"),
            .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
            .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
            .product(name: "Plot", package: "Plot"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "MultipartKit", package: "multipart-kit"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ], resources: [.copy("Resources/DockerBundle")]),
        .executableTarget(name: "sightline", dependencies: ["App", "VisionEngine"]),
        .executableTarget(name: "sightline-bench", dependencies: ["VisionEngine"], path: "Benchmarks/sightline-bench"),
        .testTarget(name: "VisionEngineTests", dependencies: ["VisionEngine"]),
        // libxml2's HTML parser: page-structure tests parse what the portal renders.
        .systemLibrary(name: "CLibXML2", path: "Tests/CLibXML2", pkgConfig: "libxml-2.0",
                       providers: [.apt(["libxml2-dev"])]),
        .testTarget(name: "AppTests", dependencies: [
            "App", "CLibXML2",
            .product(name: "XCTVapor", package: "vapor"),
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
