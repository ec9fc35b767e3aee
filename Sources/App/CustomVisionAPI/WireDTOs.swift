import Fluent
import Foundation
import Vapor

// Custom Vision JSON, camelCase exactly as the SDK's models (customvision-api.md §2).

struct WireDomain: Content {
    var id: String
    var name: String
    var type: String
    var exportable: Bool
    var enabled: Bool
    var exportablePlatforms: [String]
    @NullEncoded var modelInformation: Domain.ModelInformation?

    init(_ d: Domain) {
        id = d.id.uuidString.lowercased(); name = d.name; type = d.type
        exportable = d.exportable; enabled = true; exportablePlatforms = d.exportablePlatforms
        modelInformation = d.modelInformation
    }
}

struct WireImageProcessingSettings: Content {
    var augmentationMethods: [String: Bool]?
}

struct WireProjectSettings: Content {
    var domainId: String?
    var classificationType: String?
    var targetExportPlatforms: [String]?
    var useNegativeSet: Bool?
    /// Not offered (Azure's detection tuning string); null as Azure sends it unset.
    @NullEncoded var detectionParameters: String? = nil
    var imageProcessingSettings: WireImageProcessingSettings?
    /// From `CreateProjectOptions` (read-only afterwards, as in Azure).
    @NullEncoded var exportModelContainerUri: String? = nil
    @NullEncoded var notificationQueueUri: String? = nil
}

struct WireProject: Content {
    var id: String
    var name: String
    var description: String
    var settings: WireProjectSettings
    var created: Date
    var lastModified: Date
    var drModeEnabled: Bool
    var status: String
    /// The project's first image's thumbnail; null while it has none (as Azure).
    @NullEncoded var thumbnailUri: String? = nil

    /// Wire projects with their thumbnails (one query for all of them).
    static func make(_ projects: [Project], req: Request) async throws -> [WireProject] {
        let thumbnails = try await ProjectService.firstThumbnails(projects.compactMap(\.id), on: req.db)
        return projects.map { p in
            var w = WireProject(p)
            w.thumbnailUri = thumbnails[p.id!].map { req.application.blobSigner.url(hash: $0, base: req.application.settings.publicURL) }
            return w
        }
    }

    static func make(_ p: Project, req: Request) async throws -> WireProject { try await make([p], req: req)[0] }

    init(_ p: Project) {
        id = p.id!.uuidString.lowercased(); name = p.name; description = p.description
        settings = WireProjectSettings(domainId: p.domainID.uuidString.lowercased(),
                                       classificationType: p.classificationType,
                                       targetExportPlatforms: p.targetExportPlatforms,
                                       useNegativeSet: true,
                                       imageProcessingSettings: .init(augmentationMethods: ProjectService.augmentation(of: p)),
                                       exportModelContainerUri: p.exportModelContainerURI,
                                       notificationQueueUri: p.notificationQueueURI)
        created = p.createdAt ?? Date(); lastModified = p.updatedAt ?? created
        drModeEnabled = false; status = p.status
    }
}

/// `export_project`'s answer: what the token will copy, and the token.
struct WireProjectExport: Content {
    var iterationCount, imageCount, tagCount, regionCount: Int
    var estimatedImportTimeInMS: Int
    var token: String

    init(_ s: ProjectTransferService.Summary) {
        iterationCount = s.iterations; imageCount = s.images; tagCount = s.tags; regionCount = s.regions
        estimatedImportTimeInMS = s.estimatedImportMilliseconds; token = s.token
    }
}

/// PATCH body for a project: every field optional, unknown keys ignored.
struct WireProjectUpdate: Content {
    var name: String?
    var description: String?
    var settings: WireProjectSettings?

    var changes: ProjectChanges {
        ProjectChanges(name: name, description: description, domainID: settings?.domainId,
                       classificationType: settings?.classificationType,
                       targetExportPlatforms: settings?.targetExportPlatforms,
                       augmentationMethods: settings?.imageProcessingSettings?.augmentationMethods)
    }
}

struct WireCreateProjectOptions: Content {
    var exportModelContainerUri: String?
    var notificationQueueUri: String?
}

struct WireTag: Content {
    var id: String
    var name: String
    var description: String
    var type: String
    var imageCount: Int

    /// `imageCount` is counted from image tags and regions when read, so it is right
    /// however many edits ran concurrently.
    init(_ t: Tag, imageCount: Int = 0) {
        id = t.id!.uuidString.lowercased(); name = t.name; description = t.description
        type = t.typeRaw; self.imageCount = imageCount
    }
}

struct WireTagUpdate: Content {
    var name: String?
    var description: String?
    var type: String?
}
