import Foundation
import SqueezeCore

extension Pruning {
    /// N:M: in each row, every group of M consecutive weights keeps its N largest scores. A weight
    /// is removed when fewer than M − N of its group rank below it in (score, index) order, so ties
    /// go to the lower index.
    public static func nm(_ W: Tensor, n: Int, m: Int, scores: [Float]? = nil) throws -> Result {
        guard W.rank == 2 else { throw CoreError.invalidParameter("W", "N:M needs a matrix, got shape \(Shape.describe(W.shape))") }
        guard n >= 0, m >= 1, n <= m else { throw CoreError.invalidParameter("pattern", "pattern N:M needs 0 ≤ N ≤ M, got \(n):\(m)") }
        let cols = W.shape[1]
        guard cols % m == 0 else { throw CoreError.invalidParameter("pattern", "M = \(m) does not divide the \(cols) columns") }
        let drop = m - n
        var mask = Tensor.zeros([0])
        let recon = Tensor(shape: W.shape) { rp in
            mask = Tensor(shape: W.shape) { mp in
                W.withBuffer { wp in
                    nonisolated(unsafe) let (rp, mp) = (rp, mp)
                    let body = { (sp: UnsafeBufferPointer<Float>, magnitude: Bool) in
                        Parallel.forEach(W.count / m, grain: 16_384) { range in
                            let (mp, rp, wp) = (mp, rp, wp)  // locals: stores through them cannot alias the closure's context
                            // Branch-free: the outcome of a comparison of random weights is not predictable.
                            @inline(__always) func keep(_ below: Int, _ i: Int) {
                                let k = ((drop &- 1 &- below) >> 63) & 1  // 1 when below ≥ drop
                                mp[i] = Float(k)
                                rp[i] = Float(bitPattern: wp[i].bitPattern & UInt32(truncatingIfNeeded: 0 &- k))
                            }
                            withUnsafeTemporaryAllocation(of: Float.self, capacity: m) { local in
                                for group in range {
                                    let base = group * m
                                    for t in 0..<m { local[t] = magnitude ? abs(wp[base + t]) : sp[base + t] }
                                    if m == 4 {
                                        // Unrolled: earlier indices win ties (≤), later ones must be strictly lower.
                                        let (s0, s1, s2, s3) = (local[0], local[1], local[2], local[3])
                                        let b0 = (s1 < s0 ? 1 : 0) + (s2 < s0 ? 1 : 0) + (s3 < s0 ? 1 : 0)
                                        let b1 = (s0 <= s1 ? 1 : 0) + (s2 < s1 ? 1 : 0) + (s3 < s1 ? 1 : 0)
                                        let b2 = (s0 <= s2 ? 1 : 0) + (s1 <= s2 ? 1 : 0) + (s3 < s2 ? 1 : 0)
                                        let b3 = (s0 <= s3 ? 1 : 0) + (s1 <= s3 ? 1 : 0) + (s2 <= s3 ? 1 : 0)
                                        keep(b0, base); keep(b1, base + 1); keep(b2, base + 2); keep(b3, base + 3)
                                        continue
                                    }
                                    for t in 0..<m {
                                        let st = local[t]
                                        var below = 0
                                        for u in 0..<t { below &+= local[u] <= st ? 1 : 0 }
                                        for u in (t + 1)..<m { below &+= local[u] < st ? 1 : 0 }
                                        keep(below, base + t)
                                    }
                                }
                            }
                        }
                    }
                    if let scores { scores.withUnsafeBufferPointer { body($0, false) } } else { body(wp, true) }
                }
            }
        }
        return Result(recon: recon, mask: mask, kept: W.count / m * n)
    }
}
