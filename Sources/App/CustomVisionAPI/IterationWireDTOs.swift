import Foundation
import Vapor
import VisionEngine

struct WireIteration: Content {
    var id: String
    var name: String
    var status: String
    var created: Date
    var lastModified: Date
    var trainedAt: Date?
    var projectId: String
    var exportable: Bool
    @NullEncoded var exportableTo: [String]?
    @NullEncoded var domainId: String?
    @NullEncoded var classificationType: String?
    var trainingType: String
    var reservedBudgetInHours: Int
    var trainingTimeInMinutes: Int
    @NullEncoded var publishName: String?
    @NullEncoded var originalPublishResourceId: String?
    @NullEncoded var trainingErrorDetails: String?
    /// Iterations are never trained from a custom base model here.
    @NullEncoded var customBaseModelInfo: [String: String]? = nil
    /// v2 only (the v2 API's default iteration); absent from v3 answers.
    var isDefault: Bool?

    init(_ it: Iteration, domains: DomainCatalog, project: Project?) {
        id = it.id!.uuidString.lowercased(); name = it.name; status = it.status
        created = it.createdAt ?? Date(); lastModified = it.updatedAt ?? created
        trainedAt = it.status == "Completed" ? it.trainedAt : nil
        projectId = it.projectID.uuidString.lowercased()
        let platforms = ExportTarget.allowed(domain: domains.domain(it.domainID), project: project)
        exportable = it.status == "Completed" && !platforms.isEmpty
        exportableTo = it.status == "Completed" ? platforms : nil
        domainId = it.status == "Training" ? nil : it.domainID.uuidString.lowercased()
        classificationType = it.status == "Training" ? nil : it.classificationType
        trainingType = it.trainingType; reservedBudgetInHours = it.budgetHours
        trainingTimeInMinutes = Int(((it.trainingSeconds ?? 0) / 60).rounded(.up))
        publishName = it.publishName; originalPublishResourceId = it.predictionResourceID
        trainingErrorDetails = it.errorDetails
    }
}

struct WireIterationUpdate: Content { var name: String?; var isDefault: Bool? }

struct WireTagPerformance: Content {
    var id: String, name: String
    var precision: Double, precisionStdDeviation: Double, recall: Double, recallStdDeviation: Double, averagePrecision: Double
}

struct WireIterationPerformance: Content {
    var perTagPerformance: [WireTagPerformance]
    var precision: Double, precisionStdDeviation: Double, recall: Double, recallStdDeviation: Double, averagePrecision: Double
}

struct WirePrediction: Content {
    var probability: Float
    var tagId: String
    var tagName: String
    /// Detection only: normalised left, top, width, height.
    @NullEncoded var boundingBox: WireBoundingBox?
    var tagType: String?

    init(probability: Float, tagId: String, tagName: String, boundingBox: WireBoundingBox? = nil, tagType: String?) {
        self.probability = probability; self.tagId = tagId; self.tagName = tagName; self.boundingBox = boundingBox; self.tagType = tagType
    }
}

struct WireBoundingBox: Content, Equatable {
    var left: Double, top: Double, width: Double, height: Double

    /// Clipped to the image, as Custom Vision reports boxes.
    init(_ b: NormalisedBox) {
        let c = b.clipped ?? NormalisedBox(left: min(max(b.left, 0), 1), top: min(max(b.top, 0), 1), width: 0, height: 0)
        left = Double(c.left); top = Double(c.top); width = Double(c.width); height = Double(c.height)
    }
}

struct WireImagePrediction: Content {
    var id: String
    var project: String
    var iteration: String
    var created: Date
    var predictions: [WirePrediction]
}
