import CVips
import Foundation

/// How a classifier's input is cut from an image.
public enum Framing: String, Hashable, Sendable, Codable {
    /// Custom Vision's, and its exported models' clients': the whole image resized to the
    /// input, the aspect not kept. Every classifier trained since 2026-12 is framed so.
    case whole
    /// The backbone reference's: the centre square of side 224/256 of the shorter side.
    /// Kept for heads trained before, which go on predicting as they were trained.
    case centreCrop = "centre-crop"

    /// How a client prepares an image for a model of this framing, in a phrase.
    public func inputDescription(size: Int) -> String {
        switch self {
        case .whole: "the whole image resized to \(size)x\(size) (aspect not kept, bicubic)"
        case .centreCrop: "the centre square of side 224/256 of the shorter side, resized (bicubic) to \(size)x\(size)"
        }
    }
}

/// One way of looking at an image for feature extraction. View 0 is the evaluation
/// view (the framing's plain view, as prediction sees the image); the others flip and
/// jitter scale and position, deterministically from their index and the seed.
public struct AugmentationView: Hashable, Sendable, Codable {
    public var index: Int
    public var flip: Bool
    /// Crop size as a fraction of the image's sides (whole framing: of each side; centre
    /// crop: a square, of the shorter side).
    public var scale: Double
    /// Crop centre offset as a fraction of the free room (-1…1).
    public var dx: Double
    public var dy: Double
    public var framing: Framing
    /// Colour jitter (1: none): brightness and contrast scale the pixel values and their
    /// spread around the image's mean grey, saturation each pixel's distance from its grey.
    public var brightness: Double = 1
    public var contrast: Double = 1
    public var saturation: Double = 1

    public init(index: Int, flip: Bool, scale: Double, dx: Double, dy: Double, framing: Framing = .whole) {
        self.index = index; self.flip = flip; self.scale = scale; self.dx = dx; self.dy = dy; self.framing = framing
    }

    var jittersColour: Bool { brightness != 1 || contrast != 1 || saturation != 1 }
    /// Whether features of this view may be cached under `cacheIndex`: not when its colours
    /// are jittered, since the number does not say by how much.
    public var isCacheable: Bool { !jittersColour }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(index: try c.decode(Int.self, forKey: .index), flip: try c.decode(Bool.self, forKey: .flip),
                  scale: try c.decode(Double.self, forKey: .scale), dx: try c.decode(Double.self, forKey: .dx),
                  dy: try c.decode(Double.self, forKey: .dy),
                  framing: try c.decodeIfPresent(Framing.self, forKey: .framing) ?? .centreCrop)
        brightness = try c.decodeIfPresent(Double.self, forKey: .brightness) ?? 1
        contrast = try c.decodeIfPresent(Double.self, forKey: .contrast) ?? 1
        saturation = try c.decodeIfPresent(Double.self, forKey: .saturation) ?? 1
    }

    /// The evaluation and prediction view: the whole image.
    public static let identity = plain(.whole)
    /// The reference's centre crop (the backbone's golden vectors; heads trained before 2026-12).
    public static let centreCrop = plain(.centreCrop)

    /// A framing's unjittered, unflipped view.
    public static func plain(_ framing: Framing) -> AugmentationView {
        AugmentationView(index: 0, flip: false, scale: framing == .whole ? 1 : 224.0 / 256.0, dx: 0, dy: 0, framing: framing)
    }

    /// Features of a view are cached under this number: whole-image views from 200,
    /// centre-crop views from 300, so the two framings never share a cache entry (colour-
    /// jittered views are numbered from 400 and 500 but never cached: `isCacheable`). Numbers below 200 were resized by libvips' own
    /// resize before the resize became PIL's (2026-12) and are never read again.
    public var cacheIndex: Int { (framing == .whole ? 200 : 300) + (jittersColour ? 200 : 0) + index }

    /// The same crop flipped the other way.
    public func isMirror(of other: AugmentationView) -> Bool {
        flip != other.flip && scale == other.scale && dx == other.dx && dy == other.dy && framing == other.framing
            && brightness == other.brightness && contrast == other.contrast && saturation == other.saturation
    }

    /// `count` views of a framing: its plain view, that mirrored, then seeded scale/position
    /// jitters (70–95 % of the sides), with `colour` also seeded brightness, contrast and
    /// saturation jitter of up to ±`colour` (the crops stay those of the same seed without).
    public static func views(count: Int, framing: Framing = .whole, seed: UInt64 = 0x5EED, colour: Double = 0) -> [AugmentationView] {
        precondition(count <= 100, "cache numbers give each framing 100 views")
        precondition((0..<1).contains(colour), "colour jitter is a fraction below 1")
        var out: [AugmentationView] = []
        var rng = SplitMix64(seed: seed)
        var colourRNG = SplitMix64(seed: seed ^ 0xC010_0C01)
        let plain = plain(framing)
        for i in 0..<count {
            switch i {
            case 0: out.append(plain)
            case 1: out.append(AugmentationView(index: 1, flip: true, scale: plain.scale, dx: 0, dy: 0, framing: framing))
            default:
                var v = AugmentationView(index: i, flip: i % 2 == 1, scale: 0.70 + 0.25 * rng.nextUnit(),
                                         dx: 2 * rng.nextUnit() - 1, dy: 2 * rng.nextUnit() - 1, framing: framing)
                if colour > 0 {
                    v.brightness = 1 + colour * (2 * colourRNG.nextUnit() - 1)
                    v.contrast = 1 + colour * (2 * colourRNG.nextUnit() - 1)
                    v.saturation = 1 + colour * (2 * colourRNG.nextUnit() - 1)
                }
                out.append(v)
            }
        }
        return out
    }

    /// The colour jitter on a network input ((x−127)/128, RGB interleaved), in pixel values,
    /// clamped to 0…255 as a jittered image would be.
    func applyColour(_ x: inout [Float]) {
        let n = x.count / 3
        guard n > 0 else { return }
        var px = x.map { $0 * 128 + 127 }
        let b = Float(brightness), c = Float(contrast), s = Float(saturation)
        func grey(_ i: Int) -> Float { 0.299 * px[3 * i] + 0.587 * px[3 * i + 1] + 0.114 * px[3 * i + 2] }
        for k in px.indices { px[k] = min(max(px[k] * b, 0), 255) }
        var mean: Float = 0
        for i in 0..<n { mean += grey(i) }
        mean /= Float(n)
        for k in px.indices { px[k] = min(max(mean + (px[k] - mean) * c, 0), 255) }
        for i in 0..<n {
            let g = grey(i)
            for k in 3 * i..<3 * i + 3 { px[k] = min(max(g + (px[k] - g) * s, 0), 255) }
        }
        for k in x.indices { x[k] = (px[k] - 127) / 128 }
    }

    /// The view's crop of a width×height image: (left, top, width, height) in pixels.
    public func crop(width: Int, height: Int) -> (left: Int, top: Int, width: Int, height: Int) {
        let cw: Int, ch: Int
        switch framing {
        case .whole:
            cw = max(1, min(Int((scale * Double(width)).rounded()), width))
            ch = max(1, min(Int((scale * Double(height)).rounded()), height))
        case .centreCrop:
            cw = max(1, min(Int(scale * Double(min(width, height))), min(width, height)))
            ch = cw
        }
        let roomX = width - cw, roomY = height - ch
        // No offset centres like the reference: (room + 1) / 2.
        let left = dx == 0 ? (roomX + 1) / 2 : Int((Double(roomX) * (1 + dx) / 2).rounded())
        let top = dy == 0 ? (roomY + 1) / 2 : Int((Double(roomY) * (1 + dy) / 2).rounded())
        return (min(max(left, 0), roomX), min(max(top, 0), roomY), cw, ch)
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

/// Turns images into network input: the view's crop (by default the whole image),
/// bicubic resize to the input size as PIL resizes (libvips), aspect not kept, (x−127)/128.
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
        let crop = view.crop(width: width, height: height)
        var out = [Float](repeating: 0, count: size * size * 3)
        var mirror = mirrored ? [Float](repeating: 0, count: size * size * 3) : []
        let rc = rgb.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { o in
                mirror.withUnsafeMutableBufferPointer { m in
                    sl_vips_preprocess(px.baseAddress, Int32(width), Int32(height), Int32(crop.left), Int32(crop.top),
                                       Int32(crop.width), Int32(crop.height), Int32(size),
                                       view.flip ? 1 : 0, o.baseAddress, mirrored ? m.baseAddress : nil)
                }
            }
        }
        guard rc == 0 else {
            let message = String(cString: sl_vips_error())
            sl_vips_error_clear()
            throw ImageDecodeError.corrupt(message)
        }
        if view.jittersColour {
            view.applyColour(&out)
            if mirrored { view.applyColour(&mirror) }
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
