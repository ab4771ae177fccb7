import Foundation
import SqueezeCore

/// GGUF v2/v3 (llama.cpp's model format): metadata key/values and tensors, with F32, F16, BF16,
/// Q8_0, Q4_0 and Q4_1 blocks dequantized to Float32. GGUF lists extents fastest-first; shapes
/// here are row-major (reversed), as numpy and the gguf Python package show them.
public enum GGUF {
    public enum MetaValue: Sendable, Equatable {
        case int(Int64)
        case uint(UInt64)
        case float(Double)
        case bool(Bool)
        case string(String)
        case array([MetaValue])
    }

    public struct File: Sendable {
        public let version: Int
        public let metadata: [(String, MetaValue)]
        public let tensors: [(name: String, type: String, tensor: Tensor)]
    }

    /// ggml type id → (name, values per block, bytes per block).
    static let types: [Int: (name: String, block: Int, bytes: Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 8: ("Q8_0", 32, 34), 30: ("BF16", 1, 2),
    ]
    static let knownNames: [Int: String] = [
        6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
    ]

    struct Reader {
        let b: UnsafeRawBufferPointer
        let name: String
        var p = 0

        mutating func need(_ n: Int, _ what: String) throws {
            guard n >= 0, p + n <= b.count else {
                throw DataError(name, at: p, "the file ends inside \(what) (needs \(n) bytes, \(b.count - p) left)")
            }
        }
        mutating func u8() throws -> UInt8 { try need(1, "a byte"); defer { p += 1 }; return b[p] }
        mutating func u32() throws -> UInt32 {
            try need(4, "a 32-bit value"); defer { p += 4 };
            return UInt32(littleEndian: b.loadUnaligned(fromByteOffset: p, as: UInt32.self))
        }
        mutating func u64() throws -> UInt64 {
            try need(8, "a 64-bit value"); defer { p += 8 };
            return UInt64(littleEndian: b.loadUnaligned(fromByteOffset: p, as: UInt64.self))
        }
        mutating func count(_ what: String, max: UInt64 = 1 << 32) throws -> Int {
            let at = p
            let n = try u64()
            guard n <= max else { throw DataError(name, at: at, "\(what) count \(n) is implausible") }
            return Int(n)
        }
        mutating func string() throws -> String {
            let n = try count("string length", max: UInt64(b.count))
            try need(n, "a string")
            defer { p += n }
            return String(decoding: UnsafeRawBufferPointer(rebasing: b[p..<(p + n)]), as: UTF8.self)
        }
        mutating func value(_ type: UInt32, depth: Int = 0) throws -> MetaValue {
            switch type {
            case 0: return .uint(UInt64(try u8()))
            case 1: return .int(Int64(Int8(bitPattern: try u8())))
            case 2:
                try need(2, "a value"); defer { p += 2 };
                return .uint(UInt64(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: p, as: UInt16.self))))
            case 3:
                try need(2, "a value"); defer { p += 2 };
                return .int(Int64(Int16(littleEndian: b.loadUnaligned(fromByteOffset: p, as: Int16.self))))
            case 4: return .uint(UInt64(try u32()))
            case 5: return .int(Int64(Int32(bitPattern: try u32())))
            case 6: return .float(Double(Float(bitPattern: try u32())))
            case 7: return .bool(try u8() != 0)
            case 8: return .string(try string())
            case 9:
                guard depth < 4 else { throw DataError(name, at: p, "arrays nested too deeply") }
                let inner = try u32()
                let n = try count("array", max: UInt64(b.count))
                var out: [MetaValue] = []
                out.reserveCapacity(min(n, 1 << 16))
                for _ in 0..<n { out.append(try value(inner, depth: depth + 1)) }
                return .array(out)
            case 10: return .uint(try u64())
            case 11: return .int(Int64(bitPattern: try u64()))
            case 12: return .float(Double(bitPattern: try u64()))
            default: throw DataError(name, at: p - 4, "unknown metadata value type \(type)")
            }
        }
    }

    public static func read(path: String) throws -> File {
        try read(try mappedContents(path), name: path)
    }

    public static func read(_ data: Data, name: String) throws -> File {
        try data.withUnsafeBytes { b in
            var r = Reader(b: b, name: name)
            guard b.count >= 4, try r.u32() == 0x4655_4747 else { throw DataError(name, at: 0, "not a GGUF file (no 'GGUF' magic)") }
            let version = Int(try r.u32())
            guard version == 2 || version == 3 else { throw DataError(name, at: 4, "GGUF version \(version); versions 2 and 3 are read") }
            let nTensors = try r.count("tensor", max: 1 << 24)
            let nKV = try r.count("metadata", max: 1 << 24)
            var metadata: [(String, MetaValue)] = []
            var alignment = 32
            for _ in 0..<nKV {
                let key = try r.string()
                let v = try r.value(try r.u32())
                if key == "general.alignment" {
                    switch v {
                    case .uint(let a) where a > 0 && a <= 1 << 20 && a & (a - 1) == 0: alignment = Int(a)
                    case .int(let a) where a > 0 && a <= 1 << 20 && a & (a - 1) == 0: alignment = Int(a)
                    default: throw DataError(name, at: r.p, "general.alignment must be a power of two")
                    }
                }
                metadata.append((key, v))
            }
            var infos: [(name: String, dims: [Int], type: Int, offset: Int, at: Int)] = []
            for _ in 0..<nTensors {
                let at = r.p
                let tname = try r.string()
                let nd = Int(try r.u32())
                guard nd >= 1, nd <= Tensor.maxRank else {
                    throw DataError(name, at: at, "tensor '\(tname)' has \(nd) dimensions (1 to \(Tensor.maxRank) are held)")
                }
                var dims: [Int] = []
                for _ in 0..<nd { dims.append(try r.count("extent", max: 1 << 40)) }
                let type = Int(try r.u32())
                let offset = try r.count("offset", max: UInt64(b.count))
                infos.append((tname, dims, type, offset, at))
            }
            let dataStart = (r.p + alignment - 1) / alignment * alignment
            let tensors = try infos.map { info -> (name: String, type: String, tensor: Tensor) in
                guard let t = types[info.type] else {
                    let n = knownNames[info.type] ?? "type \(info.type)"
                    throw DataError(name, at: info.at, "tensor '\(info.name)' is \(n); F32, F16, BF16, Q8_0, Q4_0 and Q4_1 are read")
                }
                var count = 1, overflow = false
                for d in info.dims {
                    let (p, o) = count.multipliedReportingOverflow(by: d)
                    overflow = overflow || o
                    count = o ? Int.max : p
                }
                // Also in row-major order: [0, 2^40, 2^40] is empty one way and overflows the other.
                guard !overflow, Shape.count(Array(info.dims.reversed())) == count, count < 1 << 40, count % t.block == 0 else {
                    throw DataError(
                        name, at: info.at, "tensor '\(info.name)': \(count) values do not fill whole \(t.name) blocks of \(t.block)")
                }
                let bytes = count / t.block * t.bytes
                let start = dataStart + info.offset
                guard info.offset % alignment == 0, start + bytes <= b.count else {
                    throw DataError(
                        name, at: info.at,
                        "tensor '\(info.name)' (\(bytes) bytes at data offset \(info.offset)) lies outside the file or is misaligned")
                }
                try Memory.check(elements: count, "GGUF tensor '\(info.name)'")
                let raw = UnsafeRawBufferPointer(rebasing: b[start..<(start + bytes)])
                return (info.name, t.name, Tensor(shape: info.dims.reversed(), storage: dequantize(raw, t.name, count)))
            }
            return File(version: version, metadata: metadata, tensors: tensors)
        }
    }

    static func half(_ raw: UnsafeRawBufferPointer, _ o: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt16.self))))
    }

    /// ggml's reference dequantization (ggml-quants.c).
    static func dequantize(_ raw: UnsafeRawBufferPointer, _ type: String, _ n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        switch type {
        case "F32":
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case "F16": for i in 0..<n { out[i] = half(raw, 2 * i) }
        case "BF16":
            for i in 0..<n {
                out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
            }
        case "Q8_0":
            for blk in 0..<(n / 32) {
                let o = blk * 34
                let d = half(raw, o)
                for j in 0..<32 { out[blk * 32 + j] = Float(Int8(bitPattern: raw[o + 2 + j])) * d }
            }
        case "Q4_0":
            for blk in 0..<(n / 32) {
                let o = blk * 18
                let d = half(raw, o)
                for j in 0..<16 {
                    let q = raw[o + 2 + j]
                    out[blk * 32 + j] = Float(Int(q & 0xf) - 8) * d
                    out[blk * 32 + j + 16] = Float(Int(q >> 4) - 8) * d
                }
            }
        case "Q4_1":
            for blk in 0..<(n / 32) {
                let o = blk * 20
                let d = half(raw, o), m = half(raw, o + 2)
                for j in 0..<16 {
                    let q = raw[o + 4 + j]
                    out[blk * 32 + j] = Float(q & 0xf) * d + m
                    out[blk * 32 + j + 16] = Float(q >> 4) * d + m
                }
            }
        default: break
        }
        return out
    }
}
