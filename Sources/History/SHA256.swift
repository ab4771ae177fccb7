import CCrypto
import Foundation

/// SHA-256 through OpenSSL's libcrypto, as lowercase hex.
public enum SHA256 {
    static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func hex(_ text: String) -> String {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { hex(UnsafeRawBufferPointer($0)) }
    }

    public static func hex(_ data: UnsafeRawBufferPointer) -> String {
        var ctx = squeeze_sha256_ctx()
        squeeze_sha256_init(&ctx)
        squeeze_sha256_update(&ctx, data.baseAddress, data.count)
        var digest = [UInt8](repeating: 0, count: 32)
        squeeze_sha256_final(&ctx, &digest)
        return hex(digest)
    }

    /// The digest of a file, streamed in 1 MiB blocks; nil when it cannot be read.
    public static func file(_ path: String) -> (hex: String, bytes: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var ctx = squeeze_sha256_ctx()
        squeeze_sha256_init(&ctx)
        var total = 0
        while true {
            guard let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty else { break }
            total += chunk.count
            chunk.withUnsafeBytes { squeeze_sha256_update(&ctx, $0.baseAddress, $0.count) }
        }
        var digest = [UInt8](repeating: 0, count: 32)
        squeeze_sha256_final(&ctx, &digest)
        return (hex(digest), total)
    }
}
