import Foundation
import SqueezeCore

/// safetensors (Hugging Face): an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`, then the data.
/// Every tensor's extent is checked against its dtype and shape, offsets must lie in the data
/// section without overlapping, and headers over 100 MB are refused. Values become Float32.
public enum Safetensors {
    public static let maxHeader = 100_000_000

    /// Bytes per element of each dtype in the specification.
    static let sizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
        "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
    ]

    public struct File {
        public let tensors: [(name: String, tensor: Tensor, dtype: String)]
        public let metadata: [String: String]
    }

    /// Reads a file (memory-mapped: only the tensors' bytes are touched).
    public static func read(path: String) throws -> File {
        try read(try mappedContents(path), name: path)
    }

    public static func read(_ data: Data, name: String) throws -> File {
        try data.withUnsafeBytes { b in
            guard b.count >= 8 else { throw DataError(name, at: 0, "too short for a safetensors header length (\(b.count) bytes)") }
            var n = 0
            for i in 0..<8 { n |= Int(b[i]) << (8 * i) }
            guard n >= 2, n <= maxHeader else {
                throw DataError(name, at: 0, "header length \(n) is \(n > maxHeader ? "over the 100 MB limit" : "too small")")
            }
            guard 8 + n <= b.count else {
                throw DataError(name, at: 8, "the header (\(n) bytes) runs past the end of the file (\(b.count) bytes)")
            }
            let json = Data(UnsafeRawBufferPointer(rebasing: b[8..<(8 + n)]))
            guard let header = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
                throw DataError(name, at: 8, "the header is not a JSON object")
            }
            let dataStart = 8 + n
            let dataLength = b.count - dataStart
            var metadata: [String: String] = [:]
            var entries: [(name: String, dtype: String, shape: [Int], begin: Int, end: Int)] = []
            for (key, value) in header {
                if key == "__metadata__" {
                    guard let m = value as? [String: Any] else { throw DataError(name, at: 8, "__metadata__ must map strings to strings") }
                    for (k, v) in m {
                        guard let s = v as? String else { throw DataError(name, at: 8, "__metadata__['\(k)'] is not a string") }
                        metadata[k] = s
                    }
                    continue
                }
                guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                    let shapeAny = info["shape"] as? [Any], let offs = info["data_offsets"] as? [Any], offs.count == 2
                else {
                    throw DataError(name, at: 8, "tensor '\(key)' needs dtype, shape and data_offsets [begin, end]")
                }
                guard let size = sizes[dtype] else {
                    throw DataError(
                        name, at: 8, "tensor '\(key)' has unknown dtype '\(dtype)' (known: \(sizes.keys.sorted().joined(separator: ", ")))")
                }
                let shape = shapeAny.compactMap { ($0 as? NSNumber)?.intValue }
                guard shape.count == shapeAny.count, shape.allSatisfy({ $0 >= 0 }), shape.count <= Tensor.maxRank else {
                    throw DataError(name, at: 8, "tensor '\(key)' has an invalid shape (at most \(Tensor.maxRank) non-negative extents)")
                }
                guard let begin = (offs[0] as? NSNumber)?.intValue, let end = (offs[1] as? NSNumber)?.intValue,
                    begin >= 0, end >= begin, end <= dataLength
                else {
                    throw DataError(name, at: 8, "tensor '\(key)': data_offsets \(offs) lie outside the \(dataLength)-byte data section")
                }
                guard let count = Shape.count(shape), !count.multipliedReportingOverflow(by: size).overflow, count * size == end - begin
                else {
                    throw DataError(
                        name, at: dataStart + begin,
                        "tensor '\(key)': \(dtype) \(shape) needs \(Shape.count(shape).map { "\($0 * size)" } ?? "more than 2^63") " +
                        "bytes, its offsets span \(end - begin)"
                    )
                }
                entries.append((key, dtype, shape, begin, end))
            }
            // Offsets must not overlap.
            let sorted = entries.sorted { $0.begin < $1.begin }
            for (a, c) in zip(sorted, sorted.dropFirst()) where c.begin < a.end {
                throw DataError(name, at: dataStart + c.begin, "tensors '\(a.name)' and '\(c.name)' overlap")
            }
            let tensors = try sorted.map { e -> (String, Tensor, String) in
                let raw = UnsafeRawBufferPointer(rebasing: b[(dataStart + e.begin)..<(dataStart + e.end)])
                return (e.name, Tensor(shape: e.shape, storage: try decode(raw, e.dtype)), e.dtype)
            }
            return File(tensors: tensors.map { (name: $0.0, tensor: $0.1, dtype: $0.2) }, metadata: metadata)
        }
    }

    static func decode(_ raw: UnsafeRawBufferPointer, _ dtype: String) throws -> [Float] {
        let n = raw.count / (sizes[dtype] ?? 1)
        var out = [Float](repeating: 0, count: n)
        func le<T: FixedWidthInteger>(_ type: T.Type, _ i: Int) -> T {
            T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
        }
        switch dtype {
        case "F32": for i in 0..<n { out[i] = Float(bitPattern: le(UInt32.self, i)) }
        case "F64": for i in 0..<n { out[i] = Float(Double(bitPattern: le(UInt64.self, i))) }
        case "F16": for i in 0..<n { out[i] = Float(Float16(bitPattern: le(UInt16.self, i))) }
        case "BF16": for i in 0..<n { out[i] = Float(bitPattern: UInt32(le(UInt16.self, i)) << 16) }
        case "F8_E4M3": for i in 0..<n { out[i] = e4m3(raw[i]) }
        case "F8_E5M2": for i in 0..<n { out[i] = Float(Float16(bitPattern: UInt16(raw[i]) << 8)) }
        case "I64": for i in 0..<n { out[i] = Float(le(Int64.self, i)) }
        case "I32": for i in 0..<n { out[i] = Float(le(Int32.self, i)) }
        case "I16": for i in 0..<n { out[i] = Float(le(Int16.self, i)) }
        case "I8": for i in 0..<n { out[i] = Float(Int8(bitPattern: raw[i])) }
        case "U64": for i in 0..<n { out[i] = Float(le(UInt64.self, i)) }
        case "U32": for i in 0..<n { out[i] = Float(le(UInt32.self, i)) }
        case "U16": for i in 0..<n { out[i] = Float(le(UInt16.self, i)) }
        case "U8": for i in 0..<n { out[i] = Float(raw[i]) }
        case "BOOL": for i in 0..<n { out[i] = raw[i] != 0 ? 1 : 0 }
        default: throw DataError("safetensors", "unknown dtype \(dtype)")
        }
        return out
    }

    /// FP8 E4M3 (OCP "fn" variant: no infinities, S.1111.111 is NaN, bias 7).
    static func e4m3(_ b: UInt8) -> Float {
        let sign: Float = b & 0x80 != 0 ? -1 : 1
        let e = Int(b >> 3 & 0xf), m = Int(b & 7)
        if e == 0xf && m == 7 { return .nan }
        if e == 0 { return sign * Float(m) / 8 * pow(2, -6) }
        return sign * (1 + Float(m) / 8) * pow(2, Float(e - 7))
    }

    /// A file the `safetensors` package reads back exactly: F32 tensors in the given order, header
    /// padded with spaces to a multiple of 8 bytes, optional string metadata.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, t) in tensors {
            guard name != "__metadata__" else { throw DataError(name, "'__metadata__' is reserved") }
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
            offset += 4 * t.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out += $0 }
        out += json
        for (_, t) in tensors {
            for v in t.storage {
                var bits = v.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { out += $0 }
            }
        }
        return out
    }
}
