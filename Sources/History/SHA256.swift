import CCrypto
import Foundation

/// SHA-256 through OpenSSL's libcrypto, as lowercase hex.
public enum SHA256 {
    public static func hex(_ text: String) -> String {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { hex(UnsafeRawBufferPointer($0)) }
    }

    public static func hex(_ data: UnsafeRawBufferPointer) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = EVP_Digest(data.baseAddress, data.count, &digest, &length, EVP_sha256(), nil)
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    /// The digest of a file, streamed in 1 MiB blocks; nil when it cannot be read.
    public static func file(_ path: String) -> (hex: String, bytes: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path), let ctx = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(ctx); try? handle.close() }
        guard EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1 else { return nil }
        var total = 0
        while true {
            guard let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty else { break }
            total += chunk.count
            let ok = chunk.withUnsafeBytes { EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) }
            guard ok == 1 else { return nil }
        }
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(ctx, &digest, &length) == 1 else { return nil }
        return (digest.map { String(format: "%02x", $0) }.joined(), total)
    }
}
