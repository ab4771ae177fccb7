import Foundation
import SqueezeCore

/// IDX (the MNIST family's format), plain or gzipped: two zero bytes, a type code, the number of
/// dimensions, big-endian 32-bit extents, then big-endian values.
public enum IDX {
    static let types: [UInt8: (size: Int, name: String)] = [
        0x08: (1, "u8"), 0x09: (1, "i8"), 0x0B: (2, "i16"), 0x0C: (4, "i32"), 0x0D: (4, "f32"), 0x0E: (8, "f64"),
    ]

    public static func read(_ data: Data, name: String) throws -> Tensor {
        if data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b {
            // Inflate the header first, then exactly the bytes it announces: a stream that holds
            // more (a gzip bomb behind a small header) is refused without inflating the rest.
            let plain = try data.withUnsafeBytes { raw in
                let head = try Zlib.inflate(raw, format: .gzip, prefix: 4 + 4 * Tensor.maxRank, name: name)
                let expected = try head.withUnsafeBytes { try layout($0, name: name).end }
                return try Zlib.inflate(raw, format: .gzip, expectedSize: expected, name: name)
            }
            return try plain.withUnsafeBytes { try read($0, name: name) }
        }
        return try data.withUnsafeBytes { try read($0, name: name) }
    }

    /// The shape, element type and byte range of the values, from the header alone.
    static func layout(
        _ b: UnsafeRawBufferPointer, name: String
    ) throws -> (shape: [Int], count: Int, type: (size: Int, name: String), start: Int, end: Int) {
        guard b.count >= 4 else { throw DataError(name, at: 0, "too short for an IDX header (\(b.count) bytes)") }
        guard b[0] == 0, b[1] == 0 else { throw DataError(name, at: 0, "not an IDX file: it must start with two zero bytes") }
        guard let type = types[b[2]] else { throw DataError(name, at: 2, "unknown IDX type code 0x\(String(b[2], radix: 16))") }
        let rank = Int(b[3])
        guard rank >= 1, rank <= Tensor.maxRank else {
            throw DataError(name, at: 3, "\(rank) dimensions (squeeze holds 1 to \(Tensor.maxRank))")
        }
        guard b.count >= 4 + 4 * rank else { throw DataError(name, at: 4, "the header ends early") }
        var shape: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            shape.append(Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]))
        }
        // Element and byte counts with overflow reported, never trapped (extents are 32-bit).
        var count = 1, overflow = false
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            overflow = overflow || o
            count = o ? Int.max : p
        }
        let (bytes, o2) = count.multipliedReportingOverflow(by: type.size)
        let start = 4 + 4 * rank
        guard !overflow, !o2, bytes <= Int.max - start else {
            throw DataError(
                name, at: start, "\(shape.map(String.init).joined(separator: "×")) values of \(type.name) need more than 2^63 bytes")
        }
        return (shape, count, type, start, start + bytes)
    }

    static func read(_ b: UnsafeRawBufferPointer, name: String) throws -> Tensor {
        let (shape, count, type, start, end) = try layout(b, name: name)
        let bytes = end - start
        guard end <= b.count else {
            throw DataError(
                name, at: start,
                "\(shape.map(String.init).joined(separator: "×")) values of \(type.name) need \(bytes) bytes; \(b.count - start) follow " +
                "the header"
            )
        }
        try Memory.check(shape: shape, "the IDX file")
        return Tensor(shape: shape) { out in
            let p = b.baseAddress! + start
            switch type.name {
            case "u8": for i in 0..<count { out[i] = Float(p.load(fromByteOffset: i, as: UInt8.self)) }
            case "i8": for i in 0..<count { out[i] = Float(Int8(bitPattern: p.load(fromByteOffset: i, as: UInt8.self))) }
            case "i16": for i in 0..<count { out[i] = Float(Int16(bigEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
            case "i32": for i in 0..<count { out[i] = Float(Int32(bigEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case "f32":
                for i in 0..<count {
                    out[i] = Float(bitPattern: UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            default:
                for i in 0..<count {
                    out[i] = Float(Double(bitPattern: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                }
            }
        }
    }
}
