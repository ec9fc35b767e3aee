import CVips
import Foundation

/// Image formats Sightline accepts, as Custom Vision does (JPEG, PNG, BMP, GIF) plus WebP.
public enum ImageFormat: String, Sendable {
    case jpeg, png, gif, webp, bmp
}

/// What the header says, before any pixel is decoded.
public struct ImageHeader: Sendable, Equatable {
    public var format: ImageFormat
    /// Size as displayed, i.e. after the EXIF orientation is applied.
    public var width: Int
    public var height: Int
    public var orientation: Int
}

/// A JPEG rendition of an image (thumbnail, resized copy).
public struct ImageVariant: Sendable {
    public var jpeg: Data
    public var width: Int
    public var height: Int
}

public enum ImageDecodeError: Error, Equatable, CustomStringConvertible {
    /// Not an image we accept (SVG, HTML, text, PDF, ...).
    case unsupportedFormat
    /// Looks like an accepted format but cannot be decoded (truncated, corrupt).
    case corrupt(String)
    /// Too large, too small or too elongated, decided from the header alone.
    case dimensions(width: Int, height: Int, reason: String)
    case tooManyBytes(Int, limit: Int)

    public var description: String {
        switch self {
        case .unsupportedFormat: "unsupported image format; use JPEG, PNG, BMP, GIF or WebP"
        case .corrupt(let why): "the image cannot be decoded: \(why)"
        case .dimensions(let w, let h, let reason): "image of \(w)×\(h) px refused: \(reason)"
        case .tooManyBytes(let n, let limit): "image of \(n) bytes is over the \(limit)-byte limit"
        }
    }
}

/// Decoding and validation through libvips. Headers are read before any decode, so a
/// decompression bomb is refused without its pixels ever being allocated.
public enum ImageDecoder {
    public static let maxSide = 10_240
    /// At most 50 megapixels (a 50 MP camera's photo). Decoding costs time in proportion to
    /// pixels, and formats without shrink-on-load (PNG, GIF, BMP) must decode every one.
    public static let maxPixels = 50_000_000
    public static let maxAspectRatio = 25.0
    public static let trainingMaxBytes = 6 * 1024 * 1024
    public static let predictionMaxBytes = 4 * 1024 * 1024

    static let initialised: Bool = sl_vips_init() == 0

    private static let loaders: [String: ImageFormat] = [
        "jpegload_buffer": .jpeg, "pngload_buffer": .png, "gifload_buffer": .gif, "webpload_buffer": .webp,
    ]

    /// Identifies the format by content; ImageMagick is used only for real BMP files.
    static func format(of data: Data) throws -> ImageFormat {
        precondition(initialised, "libvips failed to initialise")
        guard !data.isEmpty else { throw ImageDecodeError.unsupportedFormat }
        let loader: String? = data.withUnsafeBytes { raw in
            sl_vips_loader(raw.baseAddress, raw.count).map { String(cString: $0) }
        }
        sl_vips_error_clear()
        if let loader, let f = loaders[loader] { return f }
        if loader == "magickload_buffer", data.count > 26, data.prefix(2) == Data("BM".utf8) { return .bmp }
        throw ImageDecodeError.unsupportedFormat
    }

    /// Reads the header and checks size limits without decoding pixels.
    public static func probe(_ data: Data, maxBytes: Int = trainingMaxBytes) throws -> ImageHeader {
        guard data.count <= maxBytes else { throw ImageDecodeError.tooManyBytes(data.count, limit: maxBytes) }
        let format = try format(of: data)
        var w: Int32 = 0, h: Int32 = 0, bands: Int32 = 0, orientation: Int32 = 1, interp: Int32 = 0, fmt: Int32 = 0
        let rc = data.withUnsafeBytes { raw in
            sl_vips_header(raw.baseAddress, raw.count, &w, &h, &bands, &orientation, &interp, &fmt)
        }
        guard rc == 0 else { throw ImageDecodeError.corrupt(takeError()) }
        var width = Int(w), height = Int(h)
        if orientation >= 5 && orientation <= 8 { swap(&width, &height) }
        guard width > 0, height > 0 else { throw ImageDecodeError.corrupt("empty image") }
        if max(width, height) > maxSide {
            throw ImageDecodeError.dimensions(width: width, height: height, reason: "the longest side may be at most \(maxSide) px")
        }
        if width * height > maxPixels {
            throw ImageDecodeError.dimensions(width: width, height: height, reason: "an image may have at most \(maxPixels / 1_000_000) megapixels")
        }
        if Double(max(width, height)) / Double(min(width, height)) > maxAspectRatio {
            throw ImageDecodeError.dimensions(width: width, height: height, reason: "the aspect ratio may be at most 25:1")
        }
        return ImageHeader(format: format, width: width, height: height, orientation: Int(orientation))
    }

    /// A JPEG that fits in `maxSide`×`maxSide`, orientation applied, sRGB, no alpha.
    public static func jpegVariant(_ data: Data, maxSide: Int, quality: Int = 85) throws -> ImageVariant {
        precondition(initialised, "libvips failed to initialise")
        var out: UnsafeMutableRawPointer?
        var len = 0
        var w: Int32 = 0, h: Int32 = 0
        let rc = data.withUnsafeBytes { raw in
            sl_vips_jpeg_variant(raw.baseAddress, raw.count, Int32(maxSide), Int32(quality), &out, &len, &w, &h)
        }
        guard rc == 0, let out else { throw ImageDecodeError.corrupt(takeError()) }
        defer { sl_g_free(out) }
        return ImageVariant(jpeg: Data(bytes: out, count: len), width: Int(w), height: Int(h))
    }

    /// Interleaved 8-bit RGB pixels, orientation applied. With `shorterSideAtMost`, a larger
    /// image comes scaled down (aspect kept) until its shorter side is that long; a JPEG
    /// shrinks while it decodes, so a 12-megapixel photo costs a fraction of a full decode.
    public static func rgb8(_ data: Data, shorterSideAtMost limit: Int = 0) throws -> (pixels: [UInt8], width: Int, height: Int) {
        precondition(initialised, "libvips failed to initialise")
        var px: UnsafeMutablePointer<UInt8>?
        var w: Int32 = 0, h: Int32 = 0
        let side = Int32(clamping: max(limit, 0))
        let rc = data.withUnsafeBytes { raw in sl_vips_rgb8_scaled(raw.baseAddress, raw.count, side, &px, &w, &h) }
        guard rc == 0, let px else { throw ImageDecodeError.corrupt(takeError()) }
        defer { sl_g_free(px) }
        return (Array(UnsafeBufferPointer(start: px, count: Int(w) * Int(h) * 3)), Int(w), Int(h))
    }

    /// Makes the calling thread yield the CPU to others (nice `value`): for threads that
    /// decode on behalf of one tenant while others wait for answers.
    public static func lowerThreadPriority(_ value: Int = 10) {
        _ = sl_lower_thread_priority(Int32(value))
    }

    private static func takeError() -> String {
        let message = String(cString: sl_vips_error()).trimmingCharacters(in: .whitespacesAndNewlines)
        sl_vips_error_clear()
        return message.split(separator: "\n").first.map(String.init) ?? "unknown libvips error"
    }
}
