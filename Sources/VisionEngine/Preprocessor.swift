import CVips
import Foundation

/// One way of looking at an image for feature extraction. View 0 is the evaluation
/// view (the reference's centre crop); the others flip and jitter scale and position,
/// deterministically from their index and the seed.
public struct AugmentationView: Hashable, Sendable, Codable {
    public var index: Int
    public var flip: Bool
    /// Crop side as a fraction of the shorter image side.
    public var scale: Double
    /// Crop centre offset as a fraction of the free room (-1…1).
    public var dx: Double
    public var dy: Double

    public static let identity = AugmentationView(index: 0, flip: false, scale: 224.0 / 256.0, dx: 0, dy: 0)

    /// The same crop flipped the other way.
    public func isMirror(of other: AugmentationView) -> Bool {
        flip != other.flip && scale == other.scale && dx == other.dx && dy == other.dy
    }

    /// `count` views: identity, its mirror, then seeded scale/position jitters.
    public static func views(count: Int, seed: UInt64 = 0x5EED) -> [AugmentationView] {
        var out: [AugmentationView] = []
        var rng = SplitMix64(seed: seed)
        for i in 0..<count {
            switch i {
            case 0: out.append(.identity)
            case 1: out.append(AugmentationView(index: 1, flip: true, scale: identity.scale, dx: 0, dy: 0))
            default:
                out.append(AugmentationView(index: i, flip: i % 2 == 1, scale: 0.70 + 0.25 * rng.nextUnit(),
                                            dx: 2 * rng.nextUnit() - 1, dy: 2 * rng.nextUnit() - 1))
            }
        }
        return out
    }
}

/// A small deterministic generator (SplitMix64), so views and training are reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// Turns images into network input as the reference does: a centre square crop of side
/// 224/256 of the shorter side, bicubic resize (libvips) to the input size, (x−127)/128.
public enum Preprocessor {
    public static func input(rgb: [UInt8], width: Int, height: Int, size: Int, view: AugmentationView = .identity) throws -> [Float] {
        try inputs(rgb: rgb, width: width, height: height, size: size, view: view, mirrored: false).view
    }

    /// The view's input and, with `mirrored`, also its mirror image (the same crop flipped
    /// the other way) from one resize.
    public static func inputs(rgb: [UInt8], width: Int, height: Int, size: Int, view: AugmentationView,
                              mirrored: Bool) throws -> (view: [Float], mirror: [Float]?) {
        precondition(ImageDecoder.initialised, "libvips failed to initialise")
        precondition(rgb.count == width * height * 3)
        let side = max(1, min(Int(view.scale * Double(min(width, height))), min(width, height)))
        let roomX = width - side, roomY = height - side
        // The identity view centres like the reference: offset (room + 1) / 2.
        let left = view.dx == 0 ? (roomX + 1) / 2 : Int((Double(roomX) * (1 + view.dx) / 2).rounded())
        let top = view.dy == 0 ? (roomY + 1) / 2 : Int((Double(roomY) * (1 + view.dy) / 2).rounded())
        var out = [Float](repeating: 0, count: size * size * 3)
        var mirror = mirrored ? [Float](repeating: 0, count: size * size * 3) : []
        let rc = rgb.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { o in
                mirror.withUnsafeMutableBufferPointer { m in
                    sl_vips_preprocess(px.baseAddress, Int32(width), Int32(height), Int32(min(max(left, 0), roomX)),
                                       Int32(min(max(top, 0), roomY)), Int32(side), Int32(side), Int32(size),
                                       view.flip ? 1 : 0, o.baseAddress, mirrored ? m.baseAddress : nil)
                }
            }
        }
        guard rc == 0 else {
            let message = String(cString: sl_vips_error())
            sl_vips_error_clear()
            throw ImageDecodeError.corrupt(message)
        }
        return (out, mirrored ? mirror : nil)
    }

    /// A crop of the image (pixels) resized to size×size without keeping its aspect,
    /// bicubic, maybe mirrored, (x−127)/128: detection's input.
    public static func resized(rgb: [UInt8], width: Int, height: Int, left: Int, top: Int, cropWidth: Int, cropHeight: Int,
                               size: Int, flip: Bool) throws -> [Float] {
        precondition(ImageDecoder.initialised, "libvips failed to initialise")
        precondition(rgb.count == width * height * 3 && left >= 0 && top >= 0 && cropWidth > 0 && cropHeight > 0
                     && left + cropWidth <= width && top + cropHeight <= height, "crop outside the image")
        var out = [Float](repeating: 0, count: size * size * 3)
        let rc = rgb.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { o in
                sl_vips_preprocess(px.baseAddress, Int32(width), Int32(height), Int32(left), Int32(top), Int32(cropWidth),
                                   Int32(cropHeight), Int32(size), flip ? 1 : 0, o.baseAddress, nil)
            }
        }
        guard rc == 0 else {
            let message = String(cString: sl_vips_error())
            sl_vips_error_clear()
            throw ImageDecodeError.corrupt(message)
        }
        return out
    }

    /// From encoded image bytes (any accepted format; orientation applied).
    public static func input(encoded: Data, size: Int, view: AugmentationView = .identity) throws -> [Float] {
        let img = try ImageDecoder.rgb8(encoded)
        return try input(rgb: img.pixels, width: img.width, height: img.height, size: size, view: view)
    }
}
