import Foundation
import SqueezeCore

extension Quantizer {
    /// NormalFloat-4 (QLoRA): the 16 quantiles of N(0, 1) scaled to [−1, 1], applied to blocks of
    /// `block` weights scaled by their absolute maximum (bitsandbytes' levels and block size 64).
    public static let nf4Levels: [Float] = [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
        -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
        0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
        0.7229568362236023, 1.0,
    ]

    public static func nf4(_ W: Tensor, block: Int) throws -> (recon: Tensor, codes: [UInt16], absmax: [Float]) {
        guard block >= 1, W.count % block == 0 else {
            throw CoreError.invalidParameter("group", "NF4 block \(block) does not divide the \(W.count) weights")
        }
        var codes = [UInt16](repeating: 0, count: W.count)
        var out = [Float](repeating: 0, count: W.count)
        var absmax: [Float] = []
        W.withBuffer { p in
            for s in stride(from: 0, to: W.count, by: block) {
                var m: Float = 0
                for j in s..<(s + block) { m = max(m, abs(p[j])) }
                absmax.append(m)
                for j in s..<(s + block) {
                    let x = m > 0 ? p[j] / m : 0
                    var best = 0
                    var bestD = Float.infinity
                    for (k, l) in nf4Levels.enumerated() where abs(x - l) < bestD { bestD = abs(x - l); best = k }
                    codes[j] = UInt16(best)
                    out[j] = nf4Levels[best] * m
                }
            }
        }
        return (Tensor(shape: W.shape, storage: out), codes, absmax)
    }
}

extension Compressed {
    /// NF4 with its storage account: a 4-bit code per weight and a 32-bit absmax per block.
    public static func nf4(_ W: Tensor, block: Int) throws -> Compressed {
        let r = try Quantizer.nf4(W, block: block)
        return Compressed(
            method: "nf4", recon: r.recon,
            parts: [
                ("codes", .tensor(Tensor(shape: W.shape, storage: r.codes.map(Float.init)))),
                ("absmax", .tensor(Tensor(r.absmax))),
            ],
            storage: [
                Line("codes", "one NormalFloat-4 code per weight", count: W.count, bits: 4),
                Line("absmax", "one absolute maximum per block", count: r.absmax.count, bits: 32),
            ])
    }
}
