import CPNG
import Foundation

/// PNG writing through libpng's simplified API (errors come back as return values, never as
/// longjmp). Reading lives in Datasets (`PNGDecoder`).
public enum PNG {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// An 8-bit RGB PNG of the canvas. libpng writes no time stamp, so equal canvases give equal bytes.
    public static func encode(_ canvas: Canvas) throws -> Data {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(canvas.width)
        image.height = UInt32(canvas.height)
        image.format = UInt32(PNG_FORMAT_RGB)
        var size: Int = 0
        let stride = Int32(canvas.width * 3)
        return try canvas.pixels.withUnsafeBytes { px -> Data in
            guard png_image_write_to_memory(&image, nil, &size, 0, px.baseAddress, stride, nil) != 0 else {
                throw Failure(description: message(&image, "cannot size the PNG"))
            }
            var out = Data(count: size)
            let ok = out.withUnsafeMutableBytes { buf in
                png_image_write_to_memory(&image, buf.baseAddress, &size, 0, px.baseAddress, stride, nil)
            }
            guard ok != 0 else { throw Failure(description: message(&image, "cannot encode the PNG")) }
            return out.prefix(size)
        }
    }

    /// An 8-bit PNG of grey (1), grey + alpha (2), RGB (3) or RGBA (4) bytes, row-major.
    public static func encode(bytes: [UInt8], width: Int, height: Int, channels: Int) throws -> Data {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        let alpha = UInt32(PNG_FORMAT_FLAG_ALPHA), color = UInt32(PNG_FORMAT_FLAG_COLOR)
        image.format = [0, alpha, color, color | alpha][max(0, min(3, channels - 1))]
        var size = 0
        let stride = Int32(width * channels)
        return try bytes.withUnsafeBytes { px -> Data in
            guard png_image_write_to_memory(&image, nil, &size, 0, px.baseAddress, stride, nil) != 0 else {
                throw Failure(description: message(&image, "cannot size the PNG"))
            }
            var out = Data(count: size)
            let ok = out.withUnsafeMutableBytes { png_image_write_to_memory(&image, $0.baseAddress, &size, 0, px.baseAddress, stride, nil) }
            guard ok != 0 else { throw Failure(description: message(&image, "cannot encode the PNG")) }
            return out.prefix(size)
        }
    }

    static func message(_ image: inout png_image, _ fallback: String) -> String {
        let text = withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        png_image_free(&image)
        return text.isEmpty ? fallback : text
    }

}
