import Foundation
import VisionEngine

/// One labelled image for the framing benchmark.
struct FramingItem {
    var source: FeatureSource
    var label: Int
}

struct FramingSplit {
    var classes: Int
    var train: [FramingItem]
    var test: [FramingItem]
}

/// A crop of an RGB image, (possibly) stretched to `out` by nearest neighbour.
private func cut(_ img: (pixels: [UInt8], width: Int, height: Int), x: Int, y: Int, w: Int, h: Int,
                 outWidth: Int, outHeight: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: outWidth * outHeight * 3)
    for j in 0..<outHeight {
        let sy = y + j * h / outHeight
        for i in 0..<outWidth {
            let sx = x + i * w / outWidth
            for c in 0..<3 { out[(j * outWidth + i) * 3 + c] = img.pixels[(sy * img.width + sx) * 3 + c] }
        }
    }
    return out
}

/// The framing benchmark's three sets, `seeds` seeded splits each.
func framingDatasets(seeds: Int) throws -> [(String, [FramingSplit])] {
    let dir = root.appendingPathComponent(".cache/datasets/fashion-mnist")
    func idx(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: dir.appendingPathComponent(name))) }
    let trainImages = try idx("train-images-idx3-ubyte"), trainLabels = try idx("train-labels-idx1-ubyte")
    let testImages = try idx("t10k-images-idx3-ubyte"), testLabels = try idx("t10k-labels-idx1-ubyte")
    func gray(_ images: [UInt8], _ i: Int) -> (pixels: [UInt8], width: Int, height: Int) {
        (images[16 + i * 784..<16 + (i + 1) * 784].flatMap { [$0, $0, $0] }, 28, 28)
    }
    // Fashion-MNIST: 15 training images per class, 30 test images per class, per seed.
    func fashionSplit(seed: UInt64, stretched: Bool) -> FramingSplit {
        var rng = SplitMix64(seed: seed)
        func pick(_ labels: [UInt8], _ images: [UInt8], perClass: Int, tag: String) -> [FramingItem] {
            var byClass = [[Int]](repeating: [], count: 10)
            for i in 0..<(labels.count - 8) { byClass[Int(labels[8 + i])].append(i) }
            var out: [FramingItem] = []
            for c in 0..<10 {
                var pool = byClass[c]
                pool.shuffle(using: &rng)
                for i in pool.prefix(perClass) {
                    let img = gray(images, i)
                    // As photos come: wider or taller than square, up to 2:1.
                    let (w, h) = stretched ? (Int.random(in: 28...56, using: &rng), Int.random(in: 28...56, using: &rng)) : (28, 28)
                    let px = cut(img, x: 0, y: 0, w: 28, h: 28, outWidth: w, outHeight: h)
                    out.append(FramingItem(source: FeatureSource(hash: "\(tag)\(i)-\(w)x\(h)") { (px, w, h) }, label: c))
                }
            }
            return out
        }
        return FramingSplit(classes: 10, train: pick(trainLabels, trainImages, perClass: 15, tag: "tr"),
                            test: pick(testLabels, testImages, perClass: 30, tag: "te"))
    }
    // Real aerial photos: each photo a class; training crops from its top part, test crops
    // from its bottom part (SOAP: one 400×400 photo for training, another for test).
    let photos = root.appendingPathComponent(".cache/downloads/deepforest-2.1.0/deepforest/data")
    func load(_ name: String) throws -> (pixels: [UInt8], width: Int, height: Int) {
        try ImageDecoder.rgb8(Data(contentsOf: photos.appendingPathComponent(name)), shorterSideAtMost: 1200)
    }
    let sources: [(train: (pixels: [UInt8], width: Int, height: Int), trainRows: ClosedRange<Double>,
                   test: (pixels: [UInt8], width: Int, height: Int), testRows: ClosedRange<Double>)] = try {
        let yell528 = try load("2019_YELL_2_528000_4978000_image_crop2.png")
        let yell541 = try load("2019_YELL_2_541000_4977000_image_crop.png")
        let awpe = try load("AWPE Pigeon Lake 2020 DJI_0005.JPG")
        return [(yell528, 0...0.55, yell528, 0.6...1), (yell541, 0...0.55, yell541, 0.6...1), (awpe, 0...0.55, awpe, 0.6...1),
                (try load("SOAP_031.png"), 0...1, try load("SOAP_061.png"), 0...1)]
    }()
    func photoSplit(seed: UInt64) -> FramingSplit {
        var rng = SplitMix64(seed: seed)
        func crops(_ img: (pixels: [UInt8], width: Int, height: Int), rows: ClosedRange<Double>, count: Int, label: Int, tag: String) -> [FramingItem] {
            let top = Int(rows.lowerBound * Double(img.height)), bottom = Int(rows.upperBound * Double(img.height))
            return (0..<count).map { n in
                let w = Int.random(in: 120...min(400, img.width), using: &rng), h = Int.random(in: 120...min(400, bottom - top), using: &rng)
                let x = Int.random(in: 0...(img.width - w), using: &rng), y = Int.random(in: top...(bottom - h), using: &rng)
                let px = cut(img, x: x, y: y, w: w, h: h, outWidth: w, outHeight: h)
                return FramingItem(source: FeatureSource(hash: "\(tag)\(seed)-\(label)-\(n)") { (px, w, h) }, label: label)
            }
        }
        var train: [FramingItem] = [], test: [FramingItem] = []
        for (c, s) in sources.enumerated() {
            train += crops(s.train, rows: s.trainRows, count: 15, label: c, tag: "ptr")
            test += crops(s.test, rows: s.testRows, count: 40, label: c, tag: "pte")
        }
        return FramingSplit(classes: sources.count, train: train, test: test)
    }
    let seedList = (0..<UInt64(seeds)).map { 0xF4A3 + $0 }
    return [("fashion-mnist", seedList.map { fashionSplit(seed: $0, stretched: false) }),
            ("fashion-mnist-stretched", seedList.map { fashionSplit(seed: $0, stretched: true) }),
            ("aerial-photo-crops", seedList.map(photoSplit))]
}
