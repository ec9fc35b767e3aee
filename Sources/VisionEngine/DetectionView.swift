import Foundation

/// One way of looking at a detection training image: a crop (normalised to the image),
/// resized to 416×416 without keeping the aspect, maybe mirrored, with colour jitter.
/// View 0 is the whole image as prediction sees it; view 1 its mirror; the others are
/// seeded random crops of 45–100 % of the area, aspect 3/4–4/3.
public struct DetectionView: Sendable, Hashable, Codable {
    public var index: Int
    public var crop: NormalisedBox
    public var flip: Bool
    public var brightness: Float, contrast: Float, saturation: Float

    public static let whole = DetectionView(index: 0, crop: NormalisedBox(left: 0, top: 0, width: 1, height: 1), flip: false,
                                            brightness: 1, contrast: 1, saturation: 1)

    /// What the views' definition is called in feature-cache keys: change it when views change.
    public static let scheme = "det416v2"  // v2: the resize became PIL's

    /// The smallest crop's side as a share of the image's: area 45 % at aspect 3/4.
    static let smallestCropSide = (0.45 * 0.75).squareRoot()

    /// The shorter side a source image needs so that no view of it is enlarged at
    /// `inputSize`; training scales larger images down to it before cutting views.
    public static func sourceSide(inputSize: Int) -> Int { Int((Double(inputSize) / smallestCropSide).rounded(.up)) }

    public static func views(count: Int, seed: UInt64 = 0xD37EC7) -> [DetectionView] {
        var out: [DetectionView] = []
        var rng = SplitMix64(seed: seed)
        func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * rng.nextUnit() }
        for i in 0..<count {
            switch i {
            case 0: out.append(.whole)
            case 1: var m = DetectionView.whole; m.index = 1; m.flip = true; out.append(m)
            default:
                let area = uniform(0.45, 1), aspect = exp(uniform(log(3.0 / 4), log(4.0 / 3)))
                let w = min(1, (area * aspect).squareRoot()), h = min(1, (area / aspect).squareRoot())
                let left = uniform(0, 1 - w), top = uniform(0, 1 - h)
                out.append(DetectionView(index: i, crop: NormalisedBox(left: Float(left), top: Float(top), width: Float(w), height: Float(h)),
                                         flip: rng.nextUnit() < 0.5, brightness: Float(uniform(0.8, 1.2)),
                                         contrast: Float(uniform(0.8, 1.2)), saturation: Float(uniform(0.8, 1.2))))
            }
        }
        return out
    }

    /// The image's boxes in this view's coordinates; a box is kept (clipped) when at least
    /// half of its area is inside the crop.
    public func boxes(_ boxes: [LabeledBox]) -> [LabeledBox] {
        boxes.compactMap { b in
            guard let inside = NormalisedBox(left: max(b.box.left, crop.left), top: max(b.box.top, crop.top),
                                             width: min(b.box.right, crop.right) - max(b.box.left, crop.left),
                                             height: min(b.box.bottom, crop.bottom) - max(b.box.top, crop.top)).clipped,
                  b.box.area > 0, inside.width > 0, inside.height > 0, inside.area >= 0.5 * b.box.area else { return nil }
            var l = (inside.left - crop.left) / crop.width
            let t = (inside.top - crop.top) / crop.height
            let w = inside.width / crop.width, h = inside.height / crop.height
            if flip { l = 1 - l - w }
            return NormalisedBox(left: l, top: t, width: w, height: h).clipped.map { LabeledBox(tag: b.tag, box: $0) }
        }
    }

    /// The network input ([416][416][3], (x−127)/128) for this view of an RGB image.
    public func input(rgb: [UInt8], width: Int, height: Int, size: Int = DetectionGrid.inputSize) throws -> [Float] {
        let left = min(max(Int((Double(crop.left) * Double(width)).rounded()), 0), width - 1)
        let top = min(max(Int((Double(crop.top) * Double(height)).rounded()), 0), height - 1)
        let w = min(max(1, Int((Double(crop.width) * Double(width)).rounded())), width - left)
        let h = min(max(1, Int((Double(crop.height) * Double(height)).rounded())), height - top)
        var x = try Preprocessor.resized(rgb: rgb, width: width, height: height, left: left, top: top, cropWidth: w, cropHeight: h,
                                         size: size, flip: flip)
        if brightness != 1 || contrast != 1 || saturation != 1 { jitter(&x) }
        return x
    }

    /// Brightness, contrast and saturation in pixel space (0–255), clamped, as torchvision's
    /// ColorJitter does them.
    func jitter(_ x: inout [Float]) {
        let pixels = x.count / 3
        let b = brightness, c = contrast, s = saturation
        x.withUnsafeMutableBufferPointer { p in
            var sum: Float = 0
            for i in 0..<pixels {
                sum += 0.299 * (p[3 * i] * 128 + 127) + 0.587 * (p[3 * i + 1] * 128 + 127) + 0.114 * (p[3 * i + 2] * 128 + 127)
            }
            let meanGrey = sum / Float(max(pixels, 1)) * b
            @inline(__always) func clamp(_ v: Float) -> Float { min(max(v, 0), 255) }
            for i in 0..<pixels {
                var r = clamp((p[3 * i] * 128 + 127) * b), g = clamp((p[3 * i + 1] * 128 + 127) * b), bl = clamp((p[3 * i + 2] * 128 + 127) * b)
                r = clamp((r - meanGrey) * c + meanGrey); g = clamp((g - meanGrey) * c + meanGrey); bl = clamp((bl - meanGrey) * c + meanGrey)
                let grey = 0.299 * r + 0.587 * g + 0.114 * bl
                p[3 * i] = (clamp((r - grey) * s + grey) - 127) / 128
                p[3 * i + 1] = (clamp((g - grey) * s + grey) - 127) / 128
                p[3 * i + 2] = (clamp((bl - grey) * s + grey) - 127) / 128
            }
        }
    }
}
