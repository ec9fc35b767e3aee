import Crypto
import Foundation

/// Where the pretrained checkpoints live and how to check them. A missing or corrupt
/// file is an error that names the command that fetches it.
public enum BackboneWeights {
    public static let fetchCommand = "scripts/weights-ensure.sh (run by `make run` and `make test`)"

    static let sha256: [EfficientNetLite.Variant: String] = [
        .lite0: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        .lite1: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ]

    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    public static func path(_ variant: EfficientNetLite.Variant, directory: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("\(variant.rawValue).pth").path
    }

    /// Checks presence and checksum; returns the path.
    public static func verified(_ variant: EfficientNetLite.Variant, directory: String) throws -> String {
        let p = path(variant, directory: directory)
        guard let data = FileManager.default.contents(atPath: p) else {
            throw Unavailable(description: "The \(variant.rawValue) weights are missing (\(p)). Fetch them with \(fetchCommand).")
        }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        guard digest == sha256[variant] else {
            throw Unavailable(description: "The \(variant.rawValue) weights at \(p) are corrupt (sha256 \(digest.prefix(12))…). Delete the file and run \(fetchCommand).")
        }
        return p
    }

    /// Verifies and loads.
    public static func load(_ variant: EfficientNetLite.Variant, directory: String) throws -> EfficientNetLite {
        try EfficientNetLite.load(variant: variant, path: try verified(variant, directory: directory))
    }
}
