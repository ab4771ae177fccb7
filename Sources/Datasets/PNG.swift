import CPNG
import Foundation

/// PNG reading through libpng's simplified API (errors come back as return values, never as
/// longjmp), for `load("image.png")`.
public enum PNGDecoder {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    static func message(_ image: inout png_image, _ fallback: String) -> String {
        let text = withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        png_image_free(&image)
        return text.isEmpty ? fallback : text
    }

    static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1048576) }

    /// A decoded image: `channels` values per pixel in [0, 1] (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA).
    public struct Image {
        public let width: Int
        public let height: Int
        public let channels: Int
        public let values: [Float]
    }

    /// Reads grey, grey + alpha, RGB, RGBA and palette PNGs at 8 or 16 bits. 16-bit files are read
    /// exactly (libpng treats them as linear unless they say otherwise); a palette becomes RGB, or
    /// RGBA when it has transparency.
    ///
    /// Limits (decompression bombs): at most 2²⁸ pixels; the decoded samples may not exceed what
    /// deflate can produce from the file (1032:1, plus 64 KiB); and the values with their decode
    /// buffer must fit `budget` bytes. All are checked from the header, before any allocation.
    public static func decode(_ data: Data, budget: Int = Int.max) throws -> Image {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw Failure(description: "not a readable PNG (\(message(&image, "bad header")))") }
        let source = image.format
        let hasColor = source & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let hasAlpha = source & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let sixteen = source & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        let channels = (hasColor ? 3 : 1) + (hasAlpha ? 1 : 0)
        var format = (hasColor ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (hasAlpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        if sixteen { format |= UInt32(PNG_FORMAT_FLAG_LINEAR) }
        image.format = format
        let w = Int(image.width), h = Int(image.height)
        guard w > 0, h > 0, w * h <= 1 << 28 else {
            png_image_free(&image)
            throw Failure(description: "a PNG of \(w)×\(h) pixels is not supported")
        }
        let count = w * h * channels
        let sampleBytes = count * (sixteen ? 2 : 1)
        guard sampleBytes <= data.count * 1032 + (1 << 16) else {
            png_image_free(&image)
            throw Failure(
                description:
                    "claims \(w)×\(h) pixels (\(sampleBytes) bytes of samples), more than its \(data.count) bytes can decompress to " +
                    "(deflate's limit is 1032:1)"
            )
        }
        guard count * 4 + sampleBytes <= budget else {
            png_image_free(&image)
            throw Failure(
                description: "a \(w)×\(h) image needs \(mib(count * 4 + sampleBytes)) to decode, above the memory budget of \(mib(budget))")
        }
        var values = [Float](repeating: 0, count: count)
        if sixteen {
            var buf = [UInt16](repeating: 0, count: count)
            let ok = data.withUnsafeBytes { _ in buf.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) } }
            guard ok != 0 else { throw Failure(description: message(&image, "cannot decode the PNG")) }
            for i in 0..<count { values[i] = Float(buf[i]) / 65535 }
            if hasAlpha {
                // Linear output carries premultiplied colour: divide it back out.
                for p in 0..<(w * h) {
                    let a = values[p * channels + channels - 1]
                    if a > 0 { for c in 0..<(channels - 1) { values[p * channels + c] = min(1, values[p * channels + c] / a) } }
                }
            }
        } else {
            var buf = [UInt8](repeating: 0, count: count)
            let ok = buf.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
            guard ok != 0 else { throw Failure(description: message(&image, "cannot decode the PNG")) }
            for i in 0..<count { values[i] = Float(buf[i]) / 255 }
        }
        return Image(width: w, height: h, channels: channels, values: values)
    }
}
