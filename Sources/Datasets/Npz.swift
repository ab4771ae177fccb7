import Foundation
import SqueezeCore

/// `.npz`: a zip archive of `.npy` members (numpy.savez, stored; numpy.savez_compressed, deflated).
/// The central directory is read (with zip64 sizes and offsets, which numpy always writes), every
/// member's local header is checked, and CRC-32 verified.
public enum Npz {
    struct Entry {
        let name: String
        let method: Int
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        let localOffset: Int
    }

    static func u16(_ b: UnsafeRawBufferPointer, _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    static func u32(_ b: UnsafeRawBufferPointer, _ o: Int) -> Int { u16(b, o) | u16(b, o + 2) << 16 }
    static func u64(_ b: UnsafeRawBufferPointer, _ o: Int) -> Int { u32(b, o) | u32(b, o + 4) << 32 }

    /// The arrays of an archive, in archive order, keyed by member name without `.npy`.
    public static func read(_ data: Data, name: String) throws -> [(String, Tensor)] {
        try data.withUnsafeBytes { b in
            let entries = try directory(b, name: name)
            return try entries.map { e in
                guard e.localOffset + 30 <= b.count, u32(b, e.localOffset) == 0x04034b50 else {
                    throw DataError(name, at: e.localOffset, "member '\(e.name)': no local file header where the directory says")
                }
                let start = e.localOffset + 30 + u16(b, e.localOffset + 26) + u16(b, e.localOffset + 28)
                guard start + e.compressedSize <= b.count, start <= b.count else {
                    throw DataError(
                        name, at: start,
                        "member '\(e.name)' runs past the end of the file (\(e.compressedSize) bytes from offset \(start), file has " +
                        "\(b.count))"
                    )
                }
                let raw = UnsafeRawBufferPointer(rebasing: b[start..<(start + e.compressedSize)])
                let bytes: [UInt8]
                switch e.method {
                case 0: bytes = Array(raw)
                case 8: bytes = try Zlib.inflate(raw, format: .raw, expectedSize: e.size, name: "\(name):\(e.name)")
                default:
                    throw DataError(
                        name, at: e.localOffset,
                        "member '\(e.name)' uses compression method \(e.method); only stored (0) and deflate (8) are read")
                }
                let crc = bytes.withUnsafeBytes { Zlib.crc32($0) }
                guard crc == e.crc else {
                    throw DataError(name, at: start, "member '\(e.name)' fails its CRC-32 check (corrupt archive)")
                }
                guard e.name.hasSuffix(".npy") else {
                    throw DataError(name, at: e.localOffset, "member '\(e.name)' is not a .npy array")
                }
                let t = try Npy.read(bytes, name: "\(name):\(e.name)")
                return (String(e.name.dropLast(4)), t)
            }
        }
    }

    static func directory(_ b: UnsafeRawBufferPointer, name: String) throws -> [Entry] {
        // The end-of-central-directory record is in the last 22 + 65,535 bytes.
        guard b.count >= 22 else { throw DataError(name, at: 0, "too short to be a zip archive (\(b.count) bytes)") }
        var eocd = -1
        var i = b.count - 22
        while i >= max(0, b.count - 22 - 65_535) {
            if u32(b, i) == 0x06054b50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw DataError(name, "not a zip archive: no end-of-central-directory record") }
        var count = u16(b, eocd + 10)
        var cdOffset = u32(b, eocd + 16)
        // zip64: a locator just before the record points at the zip64 end record.
        if (count == 0xffff || cdOffset == 0xffff_ffff), eocd >= 20, u32(b, eocd - 20) == 0x07064b50 {
            let z = u64(b, eocd - 12)
            guard z + 56 <= b.count, u32(b, z) == 0x06064b50 else { throw DataError(name, at: eocd - 20, "broken zip64 end record") }
            count = u64(b, z + 32)
            cdOffset = u64(b, z + 48)
        }
        var entries: [Entry] = []
        var p = cdOffset
        for _ in 0..<count {
            guard p + 46 <= b.count, u32(b, p) == 0x02014b50 else { throw DataError(name, at: p, "corrupt central directory entry") }
            let flags = u16(b, p + 8)
            let method = u16(b, p + 10)
            let crc = UInt32(u32(b, p + 16))
            var csize = u32(b, p + 20), size = u32(b, p + 24)
            let nameLen = u16(b, p + 28), extraLen = u16(b, p + 30), commentLen = u16(b, p + 32)
            var offset = u32(b, p + 42)
            guard p + 46 + nameLen + extraLen <= b.count else { throw DataError(name, at: p, "central directory entry runs past the end") }
            let member = String(decoding: UnsafeRawBufferPointer(rebasing: b[(p + 46)..<(p + 46 + nameLen)]), as: UTF8.self)
            // zip64 extra field: the 64-bit values replace, in order, the 32-bit fields that are 0xffffffff.
            var e = p + 46 + nameLen
            let end = e + extraLen
            while e + 4 <= end {
                let id = u16(b, e), len = u16(b, e + 2)
                if id == 0x0001 {
                    var q = e + 4
                    if size == 0xffff_ffff, q + 8 <= e + 4 + len { size = u64(b, q); q += 8 }
                    if csize == 0xffff_ffff, q + 8 <= e + 4 + len { csize = u64(b, q); q += 8 }
                    if offset == 0xffff_ffff, q + 8 <= e + 4 + len { offset = u64(b, q); q += 8 }
                }
                e += 4 + len
            }
            guard size <= 1 << 40, csize <= b.count else { throw DataError(name, at: p, "member '\(member)' claims an impossible size") }
            // Names become record keys, never paths; still, an archive with names a zip tool would
            // write outside its folder (zip slip) or with two members of one name is refused.
            let parts = member.split(separator: "/", omittingEmptySubsequences: false)
            if member.hasPrefix("/") || member.contains("\\") || parts.contains("..") || parts.contains("")
                || member.unicodeScalars.contains(where: { $0.value < 0x20 })
            {
                throw DataError(
                    name, at: p + 46,
                    "member name \(member.debugDescription) is not a plain relative name (absolute, '..', or control characters)")
            }
            if entries.contains(where: { $0.name == member }) {
                throw DataError(name, at: p + 46, "member '\(member)' appears twice in the archive")
            }
            if flags & 1 != 0 { throw DataError(name, at: p + 8, "member '\(member)' is encrypted; squeeze reads only plain archives") }
            entries.append(Entry(name: member, method: method, crc: crc, compressedSize: csize, size: size, localOffset: offset))
            p += 46 + nameLen + extraLen + commentLen
        }
        return entries
    }

    /// An archive numpy.load reads: one `.npy` member per array (deflated when `compressed`).
    public static func write(_ arrays: [(String, Tensor)], compressed: Bool) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func le16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
        func le32(_ v: Int, _ a: inout [UInt8]) { le16(v & 0xffff, &a); le16(v >> 16 & 0xffff, &a) }
        for (key, t) in arrays {
            let member = Array((key + ".npy").utf8)
            let body = Npy.write(t)
            let crc = Int(body.withUnsafeBytes { Zlib.crc32($0) })
            let payload = compressed ? Zlib.deflate(body, format: .raw) : body
            let offset = out.count
            // Local header (version 20, no flags, DOS date 1980-01-01 00:00 so files are reproducible).
            le32(0x04034b50, &out); le16(20, &out); le16(0, &out); le16(compressed ? 8 : 0, &out)
            le16(0, &out); le16(0x21, &out); le32(crc, &out); le32(payload.count, &out); le32(body.count, &out)
            le16(member.count, &out); le16(0, &out)
            out += member
            out += payload
            le32(0x02014b50, &central); le16(20, &central); le16(20, &central); le16(0, &central); le16(compressed ? 8 : 0, &central)
            le16(0, &central); le16(0x21, &central); le32(crc, &central); le32(payload.count, &central); le32(body.count, &central)
            le16(member.count, &central); le16(0, &central); le16(0, &central); le16(0, &central); le16(0, &central)
            le32(0, &central); le32(offset, &central)
            central += member
        }
        let cdOffset = out.count
        out += central
        le32(0x06054b50, &out); le16(0, &out); le16(0, &out); le16(arrays.count, &out); le16(arrays.count, &out)
        le32(central.count, &out); le32(cdOffset, &out); le16(0, &out)
        return out
    }
}
