import Foundation
import SqueezeCore

/// GEAR (Kang et al. 2024) for a KV-cache matrix D (tokens × channels): D̂ = Q(D − S) + L + S with
/// S the ⌊outliers·cols/2⌋ largest and smallest entries of each row kept exactly (set to the row
/// mean before quantizing), Q group-wise asymmetric uniform quantization along each row
/// (KIVI-style: scale = (max − min)/(2^b − 1), q = round(relu((x − min)/scale)), x̂ = q·scale + min),
/// and L a rank-r truncated SVD of the remaining error.
public enum GEAR {
    public struct Result: Sendable {
        public let recon: Tensor
        public let outliers: Int
        public let groups: Int
    }

    public static func compress(_ D: Tensor, bits: Int, group: Int, rank: Int, outliers: Double) throws -> Result {
        guard D.rank == 2 else { throw CoreError.invalidParameter("D", "expected tokens × channels, got shape \(Shape.describe(D.shape))") }
        let (m, n) = (D.shape[0], D.shape[1])
        guard group >= 1, n % group == 0 else {
            throw CoreError.invalidParameter("group", "group \(group) does not divide the \(n) channels")
        }
        guard rank >= 0, rank <= min(m, n) else {
            throw CoreError.invalidParameter("rank", "rank \(rank) must be between 0 and min(m, n) = \(min(m, n))")
        }
        let half = Int((outliers * Double(n) / 2).rounded(.down))
        var x = D.storage
        var sparse = [Float](repeating: 0, count: m * n)
        var isOutlier = [Bool](repeating: false, count: m * n)
        var count = 0
        if half > 0 {
            for r in 0..<m {
                let row = Array(x[(r * n)..<((r + 1) * n)])
                let mean = row.reduce(0, +) / Float(n)
                let order = row.indices.sorted { row[$0] < row[$1] || (row[$0] == row[$1] && $0 < $1) }
                for j in order.prefix(half) + order.suffix(half) where !isOutlier[r * n + j] {
                    isOutlier[r * n + j] = true
                    sparse[r * n + j] = row[j]
                    x[r * n + j] = mean
                    count += 1
                }
            }
        }
        let maxq = Float((1 << bits) - 1)
        var q = [Float](repeating: 0, count: m * n)
        for r in 0..<m {
            for s in stride(from: 0, to: n, by: group) {
                var lo = Float.infinity, hi = -Float.infinity
                for j in s..<(s + group) { lo = min(lo, x[r * n + j]); hi = max(hi, x[r * n + j]) }
                let scale = hi > lo ? (hi - lo) / maxq : 1
                for j in s..<(s + group) {
                    let code = min(maxq, max(0, ((x[r * n + j] - lo) / scale).rounded(.toNearestOrEven)))
                    q[r * n + j] = code * scale + lo
                }
            }
        }
        var recon = (0..<(m * n)).map { isOutlier[$0] ? sparse[$0] : q[$0] }
        if rank > 0 {
            let residual = Tensor(shape: [m, n], storage: zip(D.storage, recon).map { $0 - $1 })
            let f = try LowRank.truncated(residual, rank: rank, energy: nil)
            let L = try Tensor.gemm(f.B, f.A)
            for i in 0..<(m * n) { recon[i] += L.storage[i] }
        }
        return Result(recon: Tensor(shape: D.shape, storage: recon), outliers: count, groups: m * n / group)
    }
}

extension Compressed {
    /// GEAR with its storage account: codes, an fp16 scale and offset per group, every outlier at 32
    /// bits plus its column index, and the fp16 low-rank factors.
    public static func gear(_ D: Tensor, bits: Int, group: Int, rank: Int, outliers: Double) throws -> Compressed {
        let r = try GEAR.compress(D, bits: bits, group: group, rank: rank, outliers: outliers)
        let (m, n) = (D.shape[0], D.shape[1])
        return Compressed(
            method: "gear", recon: r.recon, parts: [("outliers", .integer(r.outliers)), ("rank", .integer(rank))],
            storage: [
                Line("codes", "one code per value", count: D.count, bits: Double(bits)),
                Line("groups", "an fp16 scale and offset per group", count: r.groups, bits: 32),
                Line(
                    "outliers", "an exact value and its column index", count: r.outliers,
                    bits: 32 + log2(Double(n))),
                Line("factors", "the rank-r residual, B (m × r) and A (r × n)", count: rank * (m + n), bits: 16),
            ])
    }
}
