import Foundation
import VisionEngine
import XCTest

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/images")

func fixture(_ name: String) throws -> Data { try Data(contentsOf: fixtures.appendingPathComponent(name)) }

/// The decoder against a corpus written by Pillow (Tests/Fixtures/make_corpus.py).
final class ImageDecoderTests: XCTestCase {
    func testGoodImagesProbeAndDecodeUpright() throws {
        let cases: [(String, ImageFormat, Int, Int)] = [
            ("landscape.jpg", .jpeg, 64, 32), ("landscape.png", .png, 64, 32), ("landscape.bmp", .bmp, 64, 32),
            ("landscape.webp", .webp, 64, 32), ("animated.gif", .gif, 64, 32), ("cmyk.jpg", .jpeg, 64, 32),
            ("gray16.png", .png, 40, 30), ("exif-rotated.jpg", .jpeg, 64, 32), ("tiny-3x3.png", .png, 3, 3),
        ]
        for (name, format, w, h) in cases {
            let data = try fixture(name)
            let header = try ImageDecoder.probe(data)
            XCTAssertEqual(header.format, format, name)
            XCTAssertEqual([header.width, header.height], [w, h], name)
            let rgb = try ImageDecoder.rgb8(data)
            XCTAssertEqual([rgb.width, rgb.height], [w, h], name)
            if name.hasPrefix("landscape") || name == "exif-rotated.jpg" || name == "cmyk.jpg" || name == "animated.gif" {
                // Red on the left, blue on the right: the orientation is applied.
                let left = pixel(rgb, x: 4, y: 16), right = pixel(rgb, x: 60, y: 16)
                if name == "cmyk.jpg" {
                    // Colour-managed through a CMYK profile: press blue is darker, but still blue.
                    XCTAssertGreaterThan(left.0, left.2 + 100, "\(name) left \(left)")
                    XCTAssertGreaterThan(right.2, right.0 + 60, "\(name) right \(right)")
                    continue
                }
                XCTAssertGreaterThan(left.0, 200, "\(name) left \(left)")
                XCTAssertLessThan(left.2, 60, "\(name) left \(left)")
                XCTAssertGreaterThan(right.2, 200, "\(name) right \(right)")
                XCTAssertLessThan(right.0, 60, "\(name) right \(right)")
            }
        }
        XCTAssertEqual(try ImageDecoder.probe(try fixture("exif-rotated.jpg")).orientation, 6)
        // 16-bit grey 40000/65535 becomes 8-bit ≈ 156.
        let g = try ImageDecoder.rgb8(try fixture("gray16.png"))
        XCTAssertEqual(Double(pixel(g, x: 1, y: 1).0), 155.6, accuracy: 2)
    }

    /// Scaled decoding (detection training's large photos): the shorter side comes down to
    /// the limit, aspect and orientation kept, through JPEG shrink-on-load or a resize.
    func testScaledDecodeKeepsAspectAndOrientation() throws {
        for name in ["landscape.jpg", "exif-rotated.jpg", "landscape.png"] {
            let rgb = try ImageDecoder.rgb8(try fixture(name), shorterSideAtMost: 16)
            XCTAssertEqual([rgb.width, rgb.height], [32, 16], name)
            let left = pixel(rgb, x: 2, y: 8), right = pixel(rgb, x: 30, y: 8)
            XCTAssertGreaterThan(left.0, 180, "\(name) left \(left)")
            XCTAssertGreaterThan(right.2, 180, "\(name) right \(right)")
            let small = try ImageDecoder.rgb8(try fixture(name), shorterSideAtMost: 100)
            XCTAssertEqual([small.width, small.height], [64, 32], "\(name): never enlarged")
        }
    }

    func testBadFilesAreRefusedWithTheRightReason() throws {
        for name in ["empty.jpg", "drawing.svg", "page.html", "notes.txt"] {
            XCTAssertThrowsError(try ImageDecoder.probe(try fixture(name)), name) {
                XCTAssertEqual($0 as? ImageDecodeError, .unsupportedFormat, name)
            }
        }
        for name in ["strip-1x40.png", "strip-1x30.png", "bomb-30000.png"] {
            XCTAssertThrowsError(try ImageDecoder.probe(try fixture(name)), name) {
                guard case .dimensions? = $0 as? ImageDecodeError else { return XCTFail("\(name): \($0)") }
            }
        }
        // A truncated JPEG has a readable header but no pixels: decoding fails.
        let truncated = try fixture("truncated.jpg")
        XCTAssertNoThrow(try ImageDecoder.probe(truncated))
        XCTAssertThrowsError(try ImageDecoder.jpegVariant(truncated, maxSide: 256)) {
            guard case .corrupt? = $0 as? ImageDecodeError else { return XCTFail("\($0)") }
        }
        // Over 6 MB (a valid JPEG with 7 MB appended after its end marker).
        var big = try fixture("landscape.jpg")
        big.append(Data(count: 7 * 1024 * 1024))
        XCTAssertThrowsError(try ImageDecoder.probe(big)) {
            guard case .tooManyBytes? = $0 as? ImageDecodeError else { return XCTFail("\($0)") }
        }
    }

    func testBombIsRefusedFromTheHeaderAlone() throws {
        let bomb = try fixture("bomb-30000.png")
        let before = residentBytes()
        let start = Date()
        XCTAssertThrowsError(try ImageDecoder.probe(bomb))
        // 30,000² pixels would be 900 MB as 8-bit grey; refusing it allocates almost nothing.
        XCTAssertLessThan(residentBytes() - before, 50 * 1024 * 1024)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }

    func testVariantsFitAndStayUpright() throws {
        let v = try ImageDecoder.jpegVariant(try fixture("exif-rotated.jpg"), maxSide: 16)
        XCTAssertEqual([v.width, v.height], [16, 8])
        XCTAssertEqual(try ImageDecoder.probe(v.jpeg).format, .jpeg)
        let small = try ImageDecoder.jpegVariant(try fixture("tiny-3x3.png"), maxSide: 1024)
        XCTAssertEqual([small.width, small.height], [3, 3], "never enlarged")
    }

    private func pixel(_ img: (pixels: [UInt8], width: Int, height: Int), x: Int, y: Int) -> (Int, Int, Int) {
        let i = (y * img.width + x) * 3
        return (Int(img.pixels[i]), Int(img.pixels[i + 1]), Int(img.pixels[i + 2]))
    }

    private func residentBytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = s.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * 4096
    }
}

/// A view and its mirror from one resize are exactly the two views made separately, and
/// feature extraction gives the same vectors either way.
final class MirroredViewTests: XCTestCase {
    func testMirrorPairEqualsSeparateViews() throws {
        var rng = SplitMix64(seed: 3)
        for (w, h) in [(224, 224), (301, 187), (97, 140)] {
            let rgb = (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let views = AugmentationView.views(count: 2)
            XCTAssertTrue(views[1].isMirror(of: views[0]))
            let pair = try Preprocessor.inputs(rgb: rgb, width: w, height: h, size: 224, view: views[0], mirrored: true)
            XCTAssertEqual(pair.view, try Preprocessor.input(rgb: rgb, width: w, height: h, size: 224, view: views[0]))
            XCTAssertEqual(pair.mirror, try Preprocessor.input(rgb: rgb, width: w, height: h, size: 224, view: views[1]))
        }
    }
}

/// Classifiers frame images as Custom Vision does (the whole image, resized without
/// keeping its aspect); heads trained on centre crops keep predicting on centre crops.
/// The resize to network input is PIL's `Image.resize` (bicubic), which Custom Vision's
/// export samples run: pixel centres aligned, each axis on its own.
final class ResizeTests: XCTestCase {
    /// Levels 0–255 back from network input.
    private func levels(_ x: [Float]) -> [Int] { x.map { Int(($0 * 128 + 127).rounded()) } }

    func testEnlargingAlignsPixelCentres() throws {
        // Each row [0, 200] doubled to four pixels. PIL gives [0, 41, 159, 218]: the inner
        // two are Catmull-Rom at 0.25 and 0.75 of the way between the pixel centres; at the
        // borders PIL renormalises the taps that fall outside where libvips repeats the
        // edge pixel, a few levels apart (214 here).
        let rgb = (0..<4).flatMap { _ in [0, 0, 0, 200, 200, 200] as [UInt8] }
        let out = levels(try Preprocessor.input(rgb: rgb, width: 2, height: 4, size: 4))
        for row in 0..<4 {
            let reds = (0..<4).map { out[(row * 4 + $0) * 3] }
            for (got, (want, slack)) in zip(reds, [(0, 0), (41, 1), (159, 1), (218, 4)]) {
                XCTAssertEqual(Double(got), Double(want), accuracy: Double(slack), "\(reds)")
            }
        }
    }

    func testResizeCommutesWithMirroringAndKeepsFlatImagesFlat() throws {
        var rng = SplitMix64(seed: 7)
        for (w, h, size) in [(7, 5, 24), (40, 9, 16), (300, 37, 64)] {
            let rgb = (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var mirrored = rgb
            for y in 0..<h { for x in 0..<w { for c in 0..<3 { mirrored[(y * w + x) * 3 + c] = rgb[(y * w + w - 1 - x) * 3 + c] } } }
            let a = levels(try Preprocessor.input(rgb: rgb, width: w, height: h, size: size))
            let b = levels(try Preprocessor.input(rgb: mirrored, width: w, height: h, size: size))
            var worst = 0
            for y in 0..<size { for x in 0..<size { for c in 0..<3 {
                worst = max(worst, abs(a[(y * size + x) * 3 + c] - b[(y * size + size - 1 - x) * 3 + c]))
            } } }
            XCTAssertLessThanOrEqual(worst, 1, "\(w)x\(h) to \(size): a mirrored image resizes to the mirror")
            let flat = levels(try Preprocessor.input(rgb: [UInt8](repeating: 90, count: w * h * 3), width: w, height: h, size: size))
            XCTAssertEqual(Set(flat), [90], "edges repeat the image, never a background")
        }
    }
}

final class FramingTests: XCTestCase {
    func testPlainViewsCropWholeImageOrCentreSquare() throws {
        var rng = SplitMix64(seed: 5)
        let (w, h) = (301, 187)
        let rgb = (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        XCTAssertEqual(try Preprocessor.input(rgb: rgb, width: w, height: h, size: 224, view: .identity),
                       try Preprocessor.resized(rgb: rgb, width: w, height: h, left: 0, top: 0, cropWidth: w, cropHeight: h,
                                                size: 224, flip: false))
        // The reference's crop: side floor(0.875 · 187) = 163, centred with (room + 1) / 2.
        XCTAssertEqual(try Preprocessor.input(rgb: rgb, width: w, height: h, size: 224, view: .centreCrop),
                       try Preprocessor.resized(rgb: rgb, width: w, height: h, left: 69, top: 12, cropWidth: 163, cropHeight: 163,
                                                size: 224, flip: false))
        // Jittered whole-image views keep the image's aspect in their crop, inside the image.
        for view in AugmentationView.views(count: 12).dropFirst(2) {
            let c = view.crop(width: w, height: h)
            XCTAssertEqual(Double(c.width) / Double(c.height), Double(w) / Double(h), accuracy: 0.02)
            XCTAssertTrue(c.left >= 0 && c.top >= 0 && c.left + c.width <= w && c.top + c.height <= h)
        }
    }

    func testFramingsNeverShareCacheEntries() {
        let whole = Set(AugmentationView.views(count: 20).map(\.cacheIndex))
        let crops = Set(AugmentationView.views(count: 20, framing: .centreCrop).map(\.cacheIndex))
        XCTAssertTrue(whole.isDisjoint(with: crops))
        XCTAssertTrue((whole.union(crops)).allSatisfy { $0 >= 200 }, "numbers below 200 hold features of the old resize")
    }

    func testHeadsRecordTheirFramingAndOldHeadsReadAsCentreCrop() throws {
        let head = ClassifierHead(kind: .multiclass, backbone: "b", inputSize: 224, tagIDs: ["a", "b"], featureMean: [0, 0],
                                  featureScale: [1, 1], weights: [1, 0, 0, 1], bias: [0, 0], l2: 1)
        XCTAssertEqual(head.framing, .whole)
        XCTAssertEqual(try ClassifierHead.deserialise(try head.serialised()).framing, .whole)
        // A head file as written before framing was recorded: the same layout without the key.
        let file = try head.serialised()
        let length = Int(file[8]) | Int(file[9]) << 8 | Int(file[10]) << 16 | Int(file[11]) << 24
        var json = try JSONSerialization.jsonObject(with: file[12..<(12 + length)]) as! [String: Any]
        json.removeValue(forKey: "framing")
        let old = try JSONSerialization.data(withJSONObject: json)
        var legacy = file.prefix(8)
        legacy.append(contentsOf: withUnsafeBytes(of: UInt32(old.count).littleEndian) { Array($0) })
        legacy.append(old)
        legacy.append(file[(12 + length)...])
        let decoded = try ClassifierHead.deserialise(legacy)
        XCTAssertEqual(decoded.framing, .centreCrop)
        XCTAssertEqual(decoded.weights, head.weights)
    }
}
