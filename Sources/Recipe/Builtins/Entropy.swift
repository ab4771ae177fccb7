import Compression
import Foundation
import OrderedCollections
import SqueezeCore

extension Builtins {
    static let entropy: [Operation] = [
        Operation(
            "entropy", family: "compression", summary: "Empirical (order-0) entropy of integer codes, in bits per symbol.",
            doc:
                """
                    −Σ pₖ log₂ pₖ over the codes' frequencies: the ideal static cost per symbol, not counting the model (encode gives a \
                    real coder's cost).
                    """,
            example: "print(entropy([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3]))",
            params: [ParamSpec("codes", .any)]
        ) { args, interp in
            return .number(Entropy.empirical(try codeList(args)))
        },
        Operation(
            "encode", family: "compression",
            summary: "Entropy-code integer codes with a static rANS coder; returns the stream and its full cost.",
            doc:
                """
                    rANS with a 32-bit state, byte renormalisation (L = 2^23) and frequencies quantized to 2^12 (ryg_rans). bits counts \
                    the payload bytes, the 4-byte state flush and the frequency table (32 + 12 bits per symbol value, 64 bits of header). \
                    decode(stream) returns the codes exactly.
                    """,
            example: "s = encode([0, 1, 1, 2, 2, 2, 2, 2])\nprint(decode(s), s.bits > 0)",
            params: [ParamSpec("codes", .any)]
        ) { args, interp in
            let codes = try codeList(args)
            let s = Entropy.encode(codes)
            return record([
                ("bytes", .tensor(Tensor(s.bytes.map(Float.init)))), ("alphabet", .tensor(Tensor(s.alphabet.map(Float.init)))),
                ("frequencies", .tensor(Tensor(s.frequencies.map { Float($0) }))), ("count", int(s.count)),
                ("bits", int(s.totalBits)), ("bits_per_symbol", .number(s.count == 0 ? 0 : Double(s.totalBits) / Double(s.count))),
                ("payload_bits", int(8 * s.bytes.count)),
            ])
        },
        Operation(
            "decode", family: "compression", summary: "Decode a stream made by encode back to its codes.",
            example: "print(decode(encode([3, 1, 3])))",
            params: [ParamSpec("stream", .record)]
        ) { args, interp in
            guard case .record(let r) = args.value("stream"),
                case .tensor(let bytes)? = r.fields["bytes"], case .tensor(let alphabet)? = r.fields["alphabet"],
                case .tensor(let freq)? = r.fields["frequencies"], case .number(let count)? = r.fields["count"]
            else {
                throw args.error("stream", "expected the record encode returns ({bytes, alphabet, frequencies, count, …})")
            }
            let s = Entropy.Stream(
                bytes: bytes.storage.map { UInt8(max(0, min(255, $0))) }, alphabet: alphabet.storage.map { Int($0) },
                frequencies: freq.storage.map { UInt32(max(0, $0)) }, count: Int(count))
            return .tensor(Tensor(try Entropy.decode(s).map(Float.init)))
        },
    ]

    /// Integer codes from a tensor, a list or a compressed value's codes.
    static func codeList(_ args: Arguments, _ name: String = "codes") throws -> [Int] {
        var v = args.value(name)
        if case .compressed(let c) = v, let codes = c.parts["codes"] { v = codes }
        guard let t = Ops.toTensor(v) else {
            throw args.error(name, "expected integer codes (a tensor or list), got \(v.typeDescription)")
        }
        return try t.storage.map { x in
            guard x.isFinite, x == x.rounded(), abs(x) < 2_147_483_648 else {
                throw args.error(name, "codes must be whole numbers, got \(x)")
            }
            return Int(x)
        }
    }
}
