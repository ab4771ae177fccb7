import Foundation
import SqueezeCore

extension VPTQ {
    /// A codebook prepared for exact nearest-entry search by the weighted distance Σ_d h_d (x_d − c_d)²:
    /// its entries sorted by each coordinate, so a search walks outwards from x's place along the
    /// coordinate with the largest weighted spread and stops once h_d (x_d − c_d)² alone exceeds the
    /// best distance found (no entry beyond can be nearer). The answer is the full scan's, ties
    /// included (the lowest index among equally near entries): an entry is skipped only when its
    /// bound is strictly above the best, and a bound is one of the distance's non-negative terms
    /// computed with the same arithmetic, so it never exceeds the distance. Beyond two coordinates,
    /// where one coordinate's bound prunes little, every entry is scanned eight at a time instead
    /// (the same answer). Non-finite queries, weights or entries are scanned in full.
    final class Search: @unchecked Sendable {
        let dim: Int, count: Int
        let values: [Double]
        /// Per coordinate a: the entries' full vectors in ascending order of coordinate a (count × dim,
        /// ties by index), their indices, and the sorted coordinate alone — read in place by the walk.
        private let byAxis: UnsafeMutablePointer<Double>, indexByAxis: UnsafeMutablePointer<Int>, keys: UnsafeMutablePointer<Double>
        private let spread: [Double]
        private let finite: Bool
        /// The entries coordinate-major for the vector scan: coordinate d of entry c at
        /// columns[d · padded + c], padded to a multiple of 8 with +∞ (never nearer than a real entry).
        private let columns: UnsafeMutablePointer<Double>, padded: Int

        init(_ book: [Double], dim v: Int) {
            dim = v
            count = book.count / v
            values = book
            finite = book.allSatisfy(\.isFinite)
            let k = count
            byAxis = .allocate(capacity: max(1, k * v * v))
            indexByAxis = .allocate(capacity: max(1, k * v))
            keys = .allocate(capacity: max(1, k * v))
            var spread: [Double] = []
            for a in 0..<v {
                let o = (0..<k).sorted { book[$0 * v + a] != book[$1 * v + a] ? book[$0 * v + a] < book[$1 * v + a] : $0 < $1 }
                for (p, c) in o.enumerated() {
                    indexByAxis[a * k + p] = c
                    keys[a * k + p] = book[c * v + a]
                    for d in 0..<v { byAxis[(a * k + p) * v + d] = book[c * v + d] }
                }
                let mean = (0..<k).reduce(0.0) { $0 + book[$1 * v + a] } / Double(max(k, 1))
                spread.append((0..<k).reduce(0.0) { $0 + (book[$1 * v + a] - mean) * (book[$1 * v + a] - mean) })
            }
            self.spread = spread
            padded = (k + 7) / 8 * 8
            columns = .allocate(capacity: max(1, padded * v))
            columns.initialize(repeating: .infinity, count: max(1, padded * v))
            for c in 0..<k { for d in 0..<v { columns[d * padded + c] = book[c * v + d] } }
        }

        deinit {
            byAxis.deallocate()
            indexByAxis.deallocate()
            keys.deallocate()
            columns.deallocate()
        }

        /// Entry c copied into out (dim values).
        @inline(__always)
        func entry(_ c: Int, into out: UnsafeMutablePointer<Double>) {
            values.withUnsafeBufferPointer { vp in for d in 0..<dim { out[d] = vp[c * dim + d] } }
        }

        /// Entry c added to out.
        @inline(__always)
        func add(_ c: Int, to out: UnsafeMutablePointer<Double>) {
            values.withUnsafeBufferPointer { vp in for d in 0..<dim { out[d] += vp[c * dim + d] } }
        }

        func nearest(_ x: UnsafePointer<Double>, weights w: UnsafePointer<Double>) -> Int {
            var axis = -1, score = 0.0
            var usable = finite && count > 8
            for d in 0..<dim {
                if !x[d].isFinite || !w[d].isFinite || w[d] < 0 { usable = false }
                let s = w[d] * spread[d]
                if s > score { score = s; axis = d }
            }
            guard usable, axis >= 0 else {
                return values.withUnsafeBufferPointer { VPTQ.nearest(x, $0.baseAddress!, count: count, dim: dim, weights: w) }
            }
            // Beyond two coordinates a bound on one of them prunes little: there the vector scan is
            // quicker (SmolLM2, dim 4 with 256 entries: VPTQ 43 s against 53 s; dim 2: the walk, 28 s either way).
            return dim > 2 ? scan(x, w) : walk(x, w, axis: axis)
        }

        /// Every entry's distance, eight at a time with the scalar distance's arithmetic term by term;
        /// per lane the first strictly nearer entry is kept, then the nearest lane (lowest index on
        /// ties): the full scan's answer. For finite x and non-negative finite weights (the padding's
        /// distance is then ∞ or NaN, never nearer).
        private func scan(_ x: UnsafePointer<Double>, _ w: UnsafePointer<Double>) -> Int {
            typealias V = SIMD8<Double>
            var bestD = V(repeating: .infinity), bestI = SIMD8<Int64>(repeating: -1)
            var index = SIMD8<Int64>(0, 1, 2, 3, 4, 5, 6, 7)
            let step = SIMD8<Int64>(repeating: 8), raw = UnsafeRawPointer(columns)
            var c = 0
            while c < padded {
                var d = V(repeating: 0)
                for j in 0..<dim {
                    let e = x[j] - raw.loadUnaligned(fromByteOffset: (j * padded + c) * 8, as: V.self)
                    d += w[j] * e * e
                }
                let nearer = d .< bestD
                bestD.replace(with: d, where: nearer)
                bestI.replace(with: index, where: nearer)
                index &+= step
                c += 8
            }
            var best = -1, d = Double.infinity
            for lane in 0..<8 where bestI[lane] >= 0 {
                if bestD[lane] < d || (bestD[lane] == d && Int(bestI[lane]) < best) { d = bestD[lane]; best = Int(bestI[lane]) }
            }
            return max(best, 0)
        }

        @inline(__always)
        private func walk(_ x: UnsafePointer<Double>, _ w: UnsafePointer<Double>, axis a: Int) -> Int {
            let v = dim, k = count, xa = x[a], wa = w[a]
            let sp = keys + a * k, entries = byAxis + a * k * v, ids = indexByAxis + a * k
            // The first position whose value is ≥ x_a.
            var lo = 0, hi = k
            while lo < hi {
                let mid = (lo + hi) >> 1
                if sp[mid] < xa { lo = mid + 1 } else { hi = mid }
            }
            var left = lo - 1, right = lo
            var best = Int.max, bestD = Double.infinity
            while left >= 0 || right < k {
                let gl = left >= 0 ? xa - sp[left] : Double.infinity
                let gr = right < k ? sp[right] - xa : Double.infinity
                let takeLeft = gl <= gr
                let gap = takeLeft ? gl : gr
                // The bound as the distance computes this term: w_a·e·e with e = x_a − c_a (its sign squared away).
                if wa * gap * gap > bestD { break }
                let p = takeLeft ? left : right
                if takeLeft { left -= 1 } else { right += 1 }
                let d = VPTQ.distance(x, entries + p * v, dim: v, weights: w)
                if d <= bestD {
                    let c = ids[p]
                    if d < bestD || c < best { bestD = d; best = c }
                }
            }
            return best == Int.max ? 0 : best
        }
    }
}

extension VPTQ {
    /// A k-means sample that keeps the tails: the half of `size` vectors with the largest weighted
    /// norm Σ_d h_d x_d² are always in it (ties by index), the other half is drawn uniformly from
    /// the rest and each of those stands for (rest / drawn) vectors in the centre updates. A uniform
    /// sample alone misses the rare large weights a codebook must cover (SmolLM2 at 3 bits: perplexity
    /// 1.2 million with 256 uniform vectors per code, against 78 on every vector).
    static func stratifiedSample(
        _ x: [Double], _ wt: [Double], dim v: Int, size: Int, rng: inout RandomGenerator
    ) -> (keep: [Int], multiplicity: [Double]) {
        let n = x.count / v
        let norms = (0..<n).map { i in (0..<v).reduce(0.0) { $0 + wt[i * v + $1] * x[i * v + $1] * x[i * v + $1] } }
        let top = size / 2
        // The top-th largest norm by selection, then everything above it and enough of its ties in index order.
        var inTop = [Bool](repeating: false, count: n), taken = 0
        var keys = norms.map { $0.isNaN ? -Double.infinity : $0 }
        let threshold = top > 0 ? Pruning.select(&keys, n - top) : Double.infinity  // the top-th largest
        for i in 0..<n where norms[i] > threshold { inTop[i] = true; taken += 1 }
        for i in 0..<n where taken < top && !inTop[i] && norms[i] == threshold { inTop[i] = true; taken += 1 }
        let rest = (0..<n).filter { !inTop[$0] }
        let drawn = rng.choice(rest.count, count: min(rest.count, size - taken)).map { rest[$0] }
        let weight = Double(rest.count) / Double(max(drawn.count, 1))
        let keep = ((0..<n).filter { inTop[$0] } + drawn).sorted()
        var isDrawn = [Bool](repeating: false, count: n)
        for i in drawn { isDrawn[i] = true }
        return (keep, keep.map { isDrawn[$0] ? weight : 1 })
    }
}
