import Foundation

/// What every exporter checks before it writes a model: the head belongs to this backbone,
/// its input size can be exported, and its shapes match the labels.
enum ExportChecks {
    static func classifier(_ head: ClassifierHead, on net: EfficientNetLite, labels: [String]) throws {
        guard head.backbone == net.variant.rawValue, (32...1024).contains(head.inputSize) else {
            throw ExportError.incompatibleHead("the head was trained on \(head.backbone) at \(head.inputSize) px, not \(net.variant.rawValue)")
        }
        guard head.dimension == EfficientNetLite.featureSize, labels.count == head.tagIDs.count, !labels.isEmpty,
              head.weights.count == labels.count * head.dimension, head.bias.count == labels.count else {
            throw ExportError.incompatibleHead("the head's shapes do not match its \(labels.count) labels")
        }
    }

    static func detector(_ head: DetectorHead, on net: EfficientNetLite, labels: [String]) throws {
        guard head.backbone == net.variant.rawValue, head.inputSize % DetectionGrid.stride == 0 else {
            throw ExportError.incompatibleHead("the detector was trained on \(head.backbone) at \(head.inputSize) px")
        }
        guard labels.count == head.classes, !labels.isEmpty, head.inputChannels == DetectionFeatures.channels() else {
            throw ExportError.incompatibleHead("the detector's shapes do not match its \(labels.count) labels")
        }
    }
}
