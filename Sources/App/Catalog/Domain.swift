import Foundation
import Vapor
import VisionEngine

/// A domain offered to projects, from `config/domains.json`. Ids are Azure's, so
/// scripts that hard-code domain GUIDs keep working.
struct Domain: Codable, Sendable {
    struct ModelInformation: Codable, Sendable {
        var estimatedModelSizeInMegabytes: Int
        var description: String
    }
    var id: UUID
    var name: String
    var type: String
    var backbone: String
    var inputSize: Int
    var exportablePlatforms: [String]
    var modelInformation: ModelInformation?

    var isObjectDetection: Bool { type == "ObjectDetection" }
    /// The backbone jobs of this domain run (the catalogue is refused at start-up when it names another).
    var variant: EfficientNetLite.Variant { EfficientNetLite.Variant(rawValue: backbone) ?? .lite0 }
    var exportable: Bool { !exportablePlatforms.isEmpty }
}

/// The domains this installation offers.
struct DomainCatalog: Sendable {
    let domains: [Domain]
    static let generalClassification = UUID(uuidString: "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31")!

    static func load(from path: String) throws -> DomainCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(message: "cannot read domain catalogue \(path)")
        }
        let domains = try JSONDecoder().decode([Domain].self, from: data)
        for d in domains where EfficientNetLite.Variant(rawValue: d.backbone) == nil {
            throw ConfigError(message: "domain \(d.name) (\(d.id)): unknown backbone \(d.backbone); the engine has \(EfficientNetLite.Variant.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        // A classifier's features come from the resolution its backbone was trained at.
        for d in domains where !d.isObjectDetection && d.inputSize != d.variant.inputSize {
            throw ConfigError(message: "domain \(d.name) (\(d.id)): \(d.backbone) classifies at \(d.variant.inputSize) pixels, not \(d.inputSize)")
        }
        if let twice = Dictionary(grouping: domains, by: \.id).first(where: { $0.value.count > 1 }) {
            throw ConfigError(message: "domain id \(twice.key) is listed \(twice.value.count) times")
        }
        // The detection grid has one cell per 32 input pixels.
        for d in domains where d.isObjectDetection && (d.inputSize % 32 != 0 || !(320...1024).contains(d.inputSize)) {
            throw ConfigError(message: "domain \(d.name) (\(d.id)): a detection input must be a multiple of 32 from 320 to 1024, not \(d.inputSize)")
        }
        // Exported detectors are Custom Vision's compact format: 416 in, a 13×13 grid out.
        for d in domains where d.isObjectDetection && d.exportable && d.inputSize != 416 {
            throw ConfigError(message: "domain \(d.name) (\(d.id)): an exportable detection domain takes 416-pixel input, not \(d.inputSize)")
        }
        return DomainCatalog(domains: domains)
    }

    func domain(_ id: UUID) -> Domain? { domains.first { $0.id == id } }
}

struct ConfigError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

struct DomainCatalogKey: StorageKey { typealias Value = DomainCatalog }

extension Application {
    var domainCatalog: DomainCatalog {
        get { storage[DomainCatalogKey.self]! }
        set { storage[DomainCatalogKey.self] = newValue }
    }
}
