import VisionEngine

/// A platform and flavor an iteration can be exported to, parsed from the API's strings.
struct ExportTarget: Equatable, Sendable {
    /// Custom Vision's ExportPlatform values.
    static let platforms = ["CoreML", "TensorFlow", "DockerFile", "ONNX", "VAIDK", "OpenVino"]
    /// What this installation builds, per platform: the flavors, the first being the default
    /// ("" for a platform Custom Vision gives no flavors).
    static let built: KeyValuePairs<String, [String]> = ["ONNX": ["ONNX12", "ONNX10", "OnnxFloat16"], "DockerFile": ["Linux", "ARM"], "OpenVino": [""], "CoreML": [""],
                                                           "TensorFlow": ["TensorFlowNormal", "TensorFlowSavedModel", "TensorFlowLite"]]
    /// Custom Vision's ExportFlavor values.
    static let flavors = ["Linux", "Windows", "ONNX10", "ONNX12", "OnnxFloat16", "ARM", "TensorFlowNormal", "TensorFlowLite", "TensorFlowSavedModel"]

    var platform: String
    var flavor: String

    var opset: ONNXOpset {
        switch flavor {
        case "ONNX10": .v10
        default: .v12   // ONNX12, OnnxFloat16, and the Docker bundle's model
        }
    }

    /// OnnxFloat16: float16 weights, input and output.
    var float16: Bool { flavor == "OnnxFloat16" }

    /// Validates against the domain's platforms (narrowed by the project's
    /// `targetExportPlatforms` when it names any).
    static func parse(platform raw: String?, flavor rawFlavor: String?, allowed: [String]) throws -> ExportTarget {
        guard let raw, !raw.isEmpty else {
            throw CVError.badRequest("BadRequestRequiredParamIsNull", "platform is required (one of \(platforms.joined(separator: ", "))).")
        }
        guard let platform = platforms.first(where: { $0.lowercased() == raw.lowercased() }) else {
            throw CVError.badRequest("BadRequestExportValidationFailed",
                                     "Unknown export platform '\(raw.prefix(64))'; use one of \(platforms.joined(separator: ", ")).")
        }
        guard allowed.contains(platform), let offered = built.first(where: { $0.key == platform })?.value else {
            let list = allowed.isEmpty ? "none: train on a compact domain to export" : allowed.joined(separator: ", ")
            throw CVError.badRequest("BadRequestExportValidationFailed",
                                     "This iteration cannot be exported to \(platform); its platforms are \(list).")
        }
        var flavor = offered[0]
        if let rawFlavor, !rawFlavor.isEmpty {
            guard let known = flavors.first(where: { $0.lowercased() == rawFlavor.lowercased() }) else {
                throw CVError.badRequest("BadRequestExportValidationFailed",
                                         "Unknown export flavor '\(rawFlavor.prefix(64))'; use one of \(flavors.joined(separator: ", ")).")
            }
            guard offered != [""] else {
                throw CVError.badRequest("BadRequestExportValidationFailed", "\(platform) exports have no flavors; leave flavor out.")
            }
            guard offered.contains(known) else {
                throw CVError.badRequest("BadRequestExportValidationFailed",
                                         "\(platform) exports come in \(offered.joined(separator: ", ")), not \(known).")
            }
            flavor = known
        }
        return ExportTarget(platform: platform, flavor: flavor)
    }

    /// Every platform and flavor built here among `allowed` platforms, defaults first.
    static func offered(allowed: [String]) -> [ExportTarget] {
        built.filter { allowed.contains($0.key) }.flatMap { p in p.value.map { ExportTarget(platform: p.key, flavor: $0) } }
    }

    /// The platforms an iteration on `domain` in `project` exports to.
    static func allowed(domain: Domain?, project: Project?) -> [String] {
        let platforms = domain?.exportablePlatforms ?? []
        guard let targets = project?.targetExportPlatforms, !targets.isEmpty else { return platforms }
        return platforms.filter(targets.contains)
    }
}
