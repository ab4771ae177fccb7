import Foundation
import SqueezeCore

/// Fake quantization of activations, as SmoothQuant's fake_quant.py simulates W8A8: each linear
/// layer's input is rounded to a grid of 2^bits levels and back, per token (one grid per row, which
/// incremental decoding reproduces exactly) or per tensor (one grid for the whole pass, which depends
/// on every token in it). Symmetric: scale = max(max|x|, 1e-5)/(2^(b−1) − 1), x̂ = round(x/scale)·scale.
/// Asymmetric: scale = max(max − min, 1e-5)/(2^b − 1), zero = clamp(−round(min/scale), 0, 2^b − 1),
/// x̂ = (clamp(round(x/scale) + zero, 0, 2^b − 1) − zero)·scale. Rounding half to even, as torch.
public struct ActivationQuantization: Sendable, Equatable, CustomStringConvertible {
    public var bits: Int
    public var perToken: Bool
    public var symmetric: Bool

    public init(bits: Int, perToken: Bool = true, symmetric: Bool = true) {
        self.bits = bits
        self.perToken = perToken
        self.symmetric = symmetric
    }

    public var description: String { "A\(bits) per \(perToken ? "token" : "tensor")\(symmetric ? "" : ", asymmetric")" }

    public func applied(_ x: Tensor) -> Tensor {
        var y = x
        apply(&y)
        return y
    }

    public func apply(_ x: inout Tensor) {
        guard x.rank == 2, x.count > 0 else { return }
        let rows = perToken ? x.shape[0] : 1, width = x.count / rows
        let bits = self.bits, symmetric = self.symmetric
        x.withMutableBuffer { xp in
            nonisolated(unsafe) let xp = xp
            Parallel.forEach(rows, grain: max(1, 65_536 / width)) { rr in
                for r in rr {
                    let row = UnsafeMutableBufferPointer(rebasing: xp[(r * width)..<((r + 1) * width)])
                    Self.quantize(row, bits: bits, symmetric: symmetric)
                }
            }
        }
    }

    static func quantize(_ v: UnsafeMutableBufferPointer<Float>, bits: Int, symmetric: Bool) {
        var lo = Float.infinity, hi = -Float.infinity
        for x in v { lo = min(lo, x); hi = max(hi, x) }
        if symmetric {
            let qmax = Float((1 << (bits - 1)) - 1)
            let scale = max(max(abs(lo), abs(hi)), 1e-5) / qmax
            for i in v.indices { v[i] = (v[i] / scale).rounded(.toNearestOrEven) * scale }
        } else {
            let qmax = Float((1 << bits) - 1)
            let scale = max(hi - lo, 1e-5) / qmax
            let zero = min(max(-(lo / scale).rounded(.toNearestOrEven), 0), qmax)
            for i in v.indices { v[i] = (min(max((v[i] / scale).rounded(.toNearestOrEven) + zero, 0), qmax) - zero) * scale }
        }
    }
}
