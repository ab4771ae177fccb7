import CZlib
import Foundation
import SqueezeCore

/// zlib's inflate and deflate over whole buffers.
public enum Zlib {
    public enum Format {
        /// Raw deflate (zip members).
        case raw
        /// gzip (a .gz file).
        case gzip

        var windowBits: Int32 { self == .raw ? -15 : 15 + 16 }
    }

    /// Inflates `input`; `expectedSize` (when known) sizes the output and is checked. The output may
    /// not exceed the expected size, deflate's 1032:1 limit, or the memory budget (zip bombs).
    /// With `prefix`, only the first `prefix` bytes are inflated and returned (fewer if the stream
    /// is shorter), for reading a header before deciding how much to inflate.
    public static func inflate(
        _ input: UnsafeRawBufferPointer, format: Format, expectedSize: Int? = nil, prefix: Int? = nil, name: String
    ) throws -> [UInt8] {
        let ceiling = min(
            expectedSize ?? Int.max, prefix ?? Int.max, input.count.multipliedReportingOverflow(by: 1032).partialValue + 1024, Memory.limit)
        if let e = expectedSize, e > ceiling {
            throw DataError(
                name, "claims \(e) bytes once decompressed, more than \(input.count) compressed bytes can hold or memory allows")
        }
        var stream = z_stream()
        guard squeeze_inflate_init(&stream, format.windowBits) == Z_OK else { throw DataError(name, "zlib could not start") }
        defer { inflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: max(64, min(ceiling, expectedSize ?? input.count * 4)))
        var produced = 0
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        while true {
            if produced == out.count {
                guard out.count < ceiling else { throw DataError(name, "decompresses to more than \(ceiling) bytes") }
                out += [UInt8](repeating: 0, count: min(out.count, ceiling - out.count))
            }
            let rc: Int32 = out.withUnsafeMutableBufferPointer { buf in
                stream.next_out = buf.baseAddress! + produced
                stream.avail_out = UInt32(buf.count - produced)
                let r = CZlib.inflate(&stream, Z_NO_FLUSH)
                produced = buf.count - Int(stream.avail_out)
                return r
            }
            if rc == Z_STREAM_END { break }
            if let prefix, produced >= prefix { break }
            if rc == Z_BUF_ERROR && stream.avail_in == 0 {
                throw DataError(name, at: Int(stream.total_in), "the compressed data ends early (truncated file?)")
            }
            guard rc == Z_OK || rc == Z_BUF_ERROR else {
                let msg = stream.msg.map { String(cString: $0) } ?? "code \(rc)"
                throw DataError(name, at: Int(stream.total_in), "corrupt compressed data: \(msg)")
            }
        }
        out.removeSubrange(produced...)
        if let e = expectedSize, e != produced {
            throw DataError(name, "decompressed to \(produced) bytes, the archive says \(e)")
        }
        return out
    }

    /// Deflates `input` (level 6, zlib's default).
    public static func deflate(_ input: [UInt8], format: Format) -> [UInt8] {
        var stream = z_stream()
        precondition(squeeze_deflate_init(&stream, 6, format.windowBits) == Z_OK, "zlib could not start")
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 64)
        var input = input
        let produced: Int = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                stream.next_in = inp.baseAddress
                stream.avail_in = UInt32(inp.count)
                stream.next_out = o.baseAddress
                stream.avail_out = UInt32(o.count)
                let rc = CZlib.deflate(&stream, Z_FINISH)
                precondition(rc == Z_STREAM_END, "deflate did not finish")
                return o.count - Int(stream.avail_out)
            }
        }
        out.removeSubrange(produced...)
        return out
    }

    /// CRC-32 (zip's checksum).
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(CZlib.crc32(0, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt32(bytes.count)))
    }
}
