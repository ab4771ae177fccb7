import Foundation
import SqueezeCore

/// NumPy's `.npy` format, versions 1–3 (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
///
/// Reads dtypes f2/f4/f8, i1–i8, u1–u8 and b1 in either byte order, C or Fortran order, rank ≤ 4,
/// into Float32. Object and structured dtypes are refused: nothing is ever unpickled.
public enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Parses `.npy` bytes. `name` labels errors.
    public static func read(_ bytes: [UInt8], name: String) throws -> Tensor {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw DataError(name, at: 0, "not a .npy file (the magic string \\x93NUMPY is missing)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw DataError(name, at: 8, "truncated header length") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw DataError(name, at: 6, "unsupported .npy version \(major).\(bytes[7]) (squeeze reads 1.0–3.0)")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw DataError(name, at: headerStart - 4, "header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
        }
        guard let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1)
        else {
            throw DataError(name, at: headerStart, "the header is not text")
        }
        let (descr, fortran, shape) = try parseHeader(header, name: name, offset: headerStart)
        guard shape.count <= Tensor.maxRank else {
            throw DataError(name, at: headerStart, "rank \(shape.count) is above squeeze's maximum of \(Tensor.maxRank) (shape \(shape))")
        }
        let dtype = try DType(descr, name: name, offset: headerStart)
        guard let count = Shape.count(shape) else { throw DataError(name, at: headerStart, "shape \(shape) overflows") }
        let dataStart = headerStart + headerLength
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, dataStart + needed <= bytes.count else {
            throw DataError(
                name, at: dataStart,
                "the data is truncated: shape \(shape) of \(descr) needs \(needed) bytes, the file has \(bytes.count - dataStart)")
        }
        let values = bytes.withUnsafeBytes { raw in
            (0..<count).map { dtype.load(raw, dataStart + $0 * dtype.size) }
        }
        if fortran && shape.count > 1 {
            // Fortran order is the C-order layout of the reversed shape, transposed.
            let t = Tensor(shape: shape.reversed(), storage: values)
            return try t.permuted(Array((0..<shape.count).reversed()))
        }
        return Tensor(shape: shape, storage: values)
    }

    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
    static func parseHeader(_ h: String, name: String, offset: Int) throws -> (String, Bool, [Int]) {
        func value(_ key: String) -> Substring? {
            guard let r = h.range(of: "'\(key)'") else { return nil }
            var rest = h[r.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { return nil }
            rest = rest.dropFirst().drop { $0 == " " }
            return rest
        }
        guard let d = value("descr") else { throw DataError(name, at: offset, "the header has no 'descr'") }
        guard let quote = d.first, quote == "'" || quote == "\"" else {
            throw DataError(name, at: offset, "structured dtypes are not supported (descr is \(d.prefix(30))…)")
        }
        let descr = String(d.dropFirst().prefix { $0 != quote })
        guard let f = value("fortran_order") else { throw DataError(name, at: offset, "the header has no 'fortran_order'") }
        let fortran = f.hasPrefix("True")
        guard let s = value("shape"), s.first == "(" else { throw DataError(name, at: offset, "the header has no 'shape' tuple") }
        let inner = s.dropFirst().prefix { $0 != ")" }
        let dims = try inner.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map {
            part -> Int in
            // Python 2 on Windows wrote long integers with an L suffix, `(2L,)`; numpy still reads them.
            let digits = part.hasSuffix("L") || part.hasSuffix("l") ? String(part.dropLast()) : part
            guard let v = Int(digits), v >= 0 else { throw DataError(name, at: offset, "bad extent '\(part)' in the shape") }
            return v
        }
        return (descr, fortran, dims)
    }

    struct DType {
        let kind: Character
        let size: Int
        let bigEndian: Bool

        init(_ descr: String, name: String, offset: Int) throws {
            var d = Substring(descr)
            var big = false
            if let c = d.first, "<>|=".contains(c) { big = c == ">"; d = d.dropFirst() }
            // '|O' (Python 3) and '|O8' (Python 2): object arrays, refused whatever their width says.
            if d.first == "O" { throw DataError(name, at: offset, "object arrays are refused: loading them would unpickle Python objects") }
            guard let k = d.first, let sz = Int(d.dropFirst()) else { throw DataError(name, at: offset, "unknown dtype '\(descr)'") }
            let ok: Set<String> = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]
            guard ok.contains("\(k)\(sz)") else {
                throw DataError(name, at: offset, "unsupported dtype '\(descr)' (squeeze reads f2/f4/f8, i1–i8, u1–u8, b1)")
            }
            kind = k; size = sz; bigEndian = big
        }

        func load(_ raw: UnsafeRawBufferPointer, _ at: Int) -> Float {
            var bits: UInt64 = 0
            for b in 0..<size {
                let byte = UInt64(raw[at + (bigEndian ? size - 1 - b : b)])
                bits |= byte << (8 * UInt64(b))
            }
            switch (kind, size) {
            case ("f", 2): return Float(Float16(bitPattern: UInt16(bits)))
            case ("f", 4): return Float(bitPattern: UInt32(bits))
            case ("f", 8): return Float(Double(bitPattern: bits))
            case ("i", _):
                let shift = UInt64(64 - 8 * size)
                return Float(Int64(bitPattern: bits << shift) >> Int64(shift))
            case ("b", _): return bits != 0 ? 1 : 0
            default: return Float(bits)
            }
        }
    }

    /// `.npy` version 1.0 bytes of a Float32 tensor (little-endian, C order), readable by `numpy.load`.
    public static func write(_ t: Tensor) -> [UInt8] {
        let shape = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var out = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        out += Array(header.utf8)
        out.reserveCapacity(out.count + t.count * 4)
        for v in t.storage {
            let b = v.bitPattern
            out += [UInt8(b & 0xFF), UInt8((b >> 8) & 0xFF), UInt8((b >> 16) & 0xFF), UInt8(b >> 24)]
        }
        return out
    }
}
