import XCTest
@testable import VisionEngine

/// Fine-tuning's colour jitter: it changes only the jittered views' colours, never their
/// crops, never the plain view or its mirror, and its views are never cached.
final class ColourJitterTests: XCTestCase {
    /// A 40×30 image with a colour gradient.
    let width = 40, height = 30
    var rgb: [UInt8] {
        var out: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width { out += [UInt8(x * 6), UInt8(y * 8), UInt8(200 - x * 2)] }
        }
        return out
    }

    func testJitterKeepsTheCropsAndThePlainViews() throws {
        let plain = AugmentationView.views(count: 8)
        let jittered = AugmentationView.views(count: 8, colour: 0.2)
        for (p, j) in zip(plain, jittered) {
            XCTAssertEqual(p.crop(width: width, height: height).left, j.crop(width: width, height: height).left)
            XCTAssertEqual(p.crop(width: width, height: height).width, j.crop(width: width, height: height).width)
            XCTAssertEqual(p.flip, j.flip)
        }
        XCTAssertEqual(Array(jittered[0..<2]), Array(plain[0..<2]), "the evaluation view and its mirror are never jittered")
        for j in jittered[2...] {
            for f in [j.brightness, j.contrast, j.saturation] { XCTAssert((0.8...1.2).contains(f), "\(f)") }
            XCTAssertNotEqual(j.cacheIndex, plain[j.index].cacheIndex)
        }
        XCTAssertEqual(Set(jittered.map(\.cacheIndex)).count, jittered.count)
        XCTAssertTrue(plain.allSatisfy(\.isCacheable))
        XCTAssertFalse(jittered[2...].contains(where: \.isCacheable))
    }

    /// Two jittered views with one number but different amounts must not share features:
    /// the extractor never reads nor stores a jittered view's features in the cache.
    func testJitteredViewsBypassTheFeatureCache() throws {
        let model = try lite0()
        let cache = InMemoryFeatureCache()
        let extractor = FeatureExtractor(model: model, cache: cache)
        let image = rgb, w = width, h = height
        let source = FeatureSource(hash: "gradient") { (image, w, h) }
        var a = AugmentationView.views(count: 3)[2], b = a
        a.brightness = 1.15
        b.brightness = 0.85
        XCTAssertEqual(a.cacheIndex, b.cacheIndex, "the number alone cannot tell them apart")
        let first = try extractor.features([source], views: [.identity, a])
        XCTAssertEqual(first.computed, 2)
        XCTAssertEqual(cache.count, 1, "only the plain view is stored")
        let second = try extractor.features([source], views: [.identity, b])
        XCTAssertEqual(second.computed, 1, "the plain view comes from the cache, the jittered one is computed")
        XCTAssertEqual(second.features[0][0], first.features[0][0])
        XCTAssertGreaterThan(zip(first.features[0][1], second.features[0][1]).map { abs($0 - $1) }.max()!, 1e-4,
                             "different jitter, different features")
    }

    func testJitterChangesColoursWithinThePixelRange() throws {
        var view = AugmentationView.views(count: 3)[2]
        let before = try Preprocessor.input(rgb: rgb, width: width, height: height, size: 32, view: view)
        view.brightness = 1.15; view.contrast = 0.85; view.saturation = 1.2
        let after = try Preprocessor.input(rgb: rgb, width: width, height: height, size: 32, view: view)
        XCTAssertEqual(before.count, after.count)
        XCTAssertGreaterThan(zip(before, after).map { abs($0 - $1) }.max()!, 0.02)
        XCTAssert(after.allSatisfy { $0 >= -127.0 / 128 - 1e-6 && $0 <= 1 + 1e-6 }, "clamped to the pixel range")
        // Saturation leaves a grey image grey.
        let grey = [UInt8](repeating: 90, count: width * height * 3)
        view.brightness = 1; view.contrast = 1; view.saturation = 0.8
        let g = try Preprocessor.input(rgb: grey, width: width, height: height, size: 32, view: view)
        XCTAssert(g.allSatisfy { abs($0 - (90 - 127) / 128.0) < 1e-4 })
    }

    func testOldViewsDecodeWithoutJitter() throws {
        let json = #"{"index":3,"flip":true,"scale":0.8,"dx":0.1,"dy":-0.2,"framing":"whole"}"#
        let v = try JSONDecoder().decode(AugmentationView.self, from: Data(json.utf8))
        XCTAssertEqual([v.brightness, v.contrast, v.saturation], [1, 1, 1])
        XCTAssertEqual(v.cacheIndex, 203)
    }
}
