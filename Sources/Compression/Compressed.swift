import Foundation
import SqueezeCore

/// What every compressor returns: the dense reconstruction, the named parts a decoder would read,
/// and the storage account — one line per stored part, saying what it is, how many values it holds
/// and at what precision. `bits`, `bitsPerParam`, `ratio` and `ratio16` follow from the account,
/// so the number papers argue about is computed in one place, next to the method.
public struct Compressed: Sendable {
    /// A part of the compressed form, in the units its method documents.
    public enum Part: Sendable {
        case tensor(Tensor)
        case tensors([Tensor])
        case integer(Int)
        case number(Double)
        case numbers([Double])
    }

    /// One line of the storage account: `count` values of `part`, `bits` each.
    public struct Line: Sendable, Equatable {
        public let part: String
        public let what: String
        public let count: Int
        public let bits: Double

        public init(_ part: String, _ what: String, count: Int, bits: Double) {
            self.part = part
            self.what = what
            self.count = count
            self.bits = bits
        }

        public var total: Double { Double(count) * bits }
    }

    /// The method that produced it ("rtn", "gptq", "lowrank", …).
    public let method: String
    /// The dense Float32 reconstruction, in the original tensor's shape.
    public let recon: Tensor
    /// Named parts, in the order the method documents them.
    public let parts: [(name: String, part: Part)]
    /// What is stored, part by part.
    public let storage: [Line]

    public init(method: String, recon: Tensor, parts: [(name: String, part: Part)], storage: [Line]) {
        self.method = method
        self.recon = recon
        self.parts = parts
        self.storage = storage
    }

    /// Exact storage in bits: the account's lines summed in order.
    public var bits: Double { storage.reduce(0.0) { $0 + $1.total } }

    /// Bits per element of the original tensor.
    public var bitsPerParam: Double { recon.count == 0 ? 0 : bits / Double(recon.count) }

    /// Compression ratio against Float32 storage of the original.
    public var ratio: Double { bits == 0 ? .infinity : Double(recon.count) * 32 / bits }

    /// Compression ratio against Float16 storage of the original.
    public var ratio16: Double { bits == 0 ? .infinity : Double(recon.count) * 16 / bits }

    /// The account of another compressed value, its parts renamed `prefix.part` (a base that a
    /// correction is added to, such as EoRA's C).
    public func storage(prefixed prefix: String) -> [Line] {
        storage.map { Line("\(prefix).\($0.part)", $0.what, count: $0.count, bits: $0.bits) }
    }
}

extension Compressed {
    /// log₂ of a positive count: the width of an index into `n` entries.
    static func indexBits(_ n: Int) -> Double { log2(Double(n)) }

    /// log₂ C(m, n): the bits that name which n of m positions are kept.
    static func choiceBits(_ n: Int, of m: Int) -> Double {
        var comb = 1.0
        for i in 0..<n { comb = comb * Double(m - i) / Double(i + 1) }
        return log2(comb)
    }
}
