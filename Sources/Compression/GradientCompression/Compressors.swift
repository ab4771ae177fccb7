import Foundation
import SqueezeCore

/// The bits a compressed message holds, part by part (each count exact: values at 32 bits, indices at
/// ⌈log₂ d⌉ bits for a tensor of d elements, sign bits, level codes, fp32 scales and factors).
public struct MessageBits: Sendable, Equatable {
    public var values = 0, indices = 0, signs = 0, levels = 0, scales = 0, factors = 0, dense = 0

    public init() {}

    public var total: Int { values + indices + signs + levels + scales + factors + dense }

    public static func + (a: MessageBits, b: MessageBits) -> MessageBits {
        var r = a
        r.values += b.values
        r.indices += b.indices
        r.signs += b.signs
        r.levels += b.levels
        r.scales += b.scales
        r.factors += b.factors
        r.dense += b.dense
        return r
    }

    /// Named parts in a fixed order (zero parts left out).
    public var parts: [(String, Int)] {
        [
            ("values", values), ("indices", indices), ("signs", signs), ("levels", levels), ("scales", scales), ("factors", factors),
            ("dense", dense),
        ].filter { $0.1 > 0 }
    }
}

/// One tensor's compressed message: what it decodes to, and (for sparse methods) the coordinates sent.
public struct TensorMessage: Sendable {
    public var decoded: [Float]
    public var bits: MessageBits
    /// Sparse methods: the indices (ascending) and their values.
    public var indices: [Int] = []
    public var values: [Float] = []
}

/// The per-tensor compression kernels, each a pure function of its input (and of the random numbers it is
/// given), so each can be checked against a numpy port of its reference code
/// (Tests/CompressionTests/Fixtures/make_gradient_compression_fixtures.py).
public enum Compressors {
    /// Bits of one index into a tensor of `count` elements: ⌈log₂ count⌉ (at least 1).
    public static func indexBits(_ count: Int) -> Int { max(1, Int.bitWidth - (max(count, 2) - 1).leadingZeroBitCount) }

    /// A sparse message sending `x` at `indices` (ascending).
    public static func sparse(_ x: [Float], _ indices: [Int]) -> TensorMessage {
        var decoded = [Float](repeating: 0, count: x.count)
        var values = [Float]()
        values.reserveCapacity(indices.count)
        for i in indices {
            decoded[i] = x[i]
            values.append(x[i])
        }
        var bits = MessageBits()
        bits.values = 32 * indices.count
        bits.indices = indexBits(x.count) * indices.count
        return TensorMessage(decoded: decoded, bits: bits, indices: indices, values: values)
    }

    /// The k entries of largest magnitude (ties to the lower index), indices ascending — numpy's
    /// `argsort(-|x|, kind="stable")[:k]`. NaN counts as largest.
    public static func topK(_ x: [Float], _ k: Int) -> [Int] {
        let n = x.count, k = min(max(k, 0), n)
        if k == 0 { return [] }
        if k == n { return Array(0..<n) }
        let mags = x.map { $0.isNaN ? Float.infinity : abs($0) }
        let tau = kthLargestMagnitude(mags, k)
        var out = [Int]()
        out.reserveCapacity(k)
        mags.withUnsafeBufferPointer { m in
            var above = 0
            for i in 0..<n where m[i] > tau { above += 1 }
            var ties = k - above
            for i in 0..<n {
                if m[i] > tau {
                    out.append(i)
                } else if m[i] == tau && ties > 0 {
                    out.append(i)
                    ties -= 1
                }
            }
        }
        return out
    }

    /// The k-th largest of `mags` (1-based; all ≥ 0, no NaN), by radix selection on the bit patterns (for
    /// non-negative floats their order): histograms of the top 11, next 11 and last 10 bits narrow to the one
    /// pattern, each pass over the entries that share the prefix found so far.
    static func kthLargestMagnitude(_ mags: [Float], _ k: Int) -> Float {
        var want = k
        var prefix: UInt32 = 0
        var pool = [UInt32]()
        var hist = [Int](repeating: 0, count: 2048)
        let passes: [(shift: UInt32, width: Int)] = [(21, 11), (10, 11), (0, 10)]
        for (n, pass) in passes.enumerated() {
            let digitMask = UInt32((1 << pass.width) - 1), shift = pass.shift
            hist.withUnsafeMutableBufferPointer { h in
                for d in 0..<h.count { h[d] = 0 }
                if n == 0 {
                    mags.withUnsafeBufferPointer { p in for v in p { h[Int(v.bitPattern >> shift)] += 1 } }
                } else {
                    pool.withUnsafeBufferPointer { p in for v in p { h[Int((v >> shift) & digitMask)] += 1 } }
                }
            }
            var digit = (1 << pass.width) - 1
            while hist[digit] < want {
                want -= hist[digit]
                digit -= 1
            }
            prefix |= UInt32(digit) << shift
            guard shift > 0 else { break }
            // The entries whose bits above `shift` equal the prefix so far.
            let high = prefix >> shift, count = hist[digit]
            var next = [UInt32](repeating: 0, count: count)
            next.withUnsafeMutableBufferPointer { out in
                var c = 0
                if n == 0 {
                    mags.withUnsafeBufferPointer { p in
                        for v in p where v.bitPattern >> shift == high {
                            out[c] = v.bitPattern
                            c += 1
                        }
                    }
                } else {
                    pool.withUnsafeBufferPointer { p in
                        for v in p where v >> shift == high {
                            out[c] = v
                            c += 1
                        }
                    }
                }
            }
            pool = next
        }
        return Float(bitPattern: prefix)
    }

    /// The k-th largest value of `a` (1-based), by quickselect (Hoare partition, median-of-three pivot); `a` is reordered.
    static func kthLargest(_ a: inout [Float], _ k: Int) -> Float {
        a.withUnsafeMutableBufferPointer { a in
            var lo = 0, hi = a.count - 1
            let target = k - 1  // index in descending order
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                let p = max(min(a[lo], a[mid]), min(max(a[lo], a[mid]), a[hi]))
                var i = lo, j = hi
                while i <= j {
                    while a[i] > p { i += 1 }
                    while a[j] < p { j -= 1 }
                    if i <= j {
                        let t = a[i]
                        a[i] = a[j]
                        a[j] = t
                        i += 1
                        j -= 1
                    }
                }
                if target <= j {
                    hi = j
                } else if target >= i {
                    lo = i
                } else {
                    return a[target]
                }
            }
            return a[target]
        }
    }

    /// k distinct indices of 0..<n drawn uniformly, ascending: rejection into a bitmap when k ≤ n/2 (no n-entry
    /// index array), a partial Fisher–Yates otherwise.
    public static func randomSubset(_ n: Int, _ k: Int, _ rng: inout RandomGenerator) -> [Int] {
        guard 2 * k <= n else { return rng.choice(n, count: k).sorted() }
        var bits = [UInt64](repeating: 0, count: (n + 63) / 64)
        var drawn = 0
        while drawn < k {
            let i = rng.integer(below: n)
            let (word, bit) = (i >> 6, UInt64(1) << UInt64(i & 63))
            if bits[word] & bit == 0 {
                bits[word] |= bit
                drawn += 1
            }
        }
        var out = [Int]()
        out.reserveCapacity(k)
        for (w, var word) in bits.enumerated() {
            while word != 0 {
                out.append(w * 64 + word.trailingZeroBitCount)
                word &= word - 1
            }
        }
        return out
    }

    /// Entries with |x| ≥ threshold.
    public static func threshold(_ x: [Float], _ tau: Float) -> [Int] {
        var out = [Int]()
        for i in 0..<x.count where abs(x[i]) >= tau || x[i].isNaN { out.append(i) }
        return out
    }

    /// Consecutive ranges of `size` covering 0..<n (size 0: one range), the last possibly shorter.
    static func chunks(_ n: Int, _ size: Int) -> [Range<Int>] {
        let c = size > 0 ? size : max(n, 1)
        return stride(from: 0, to: n, by: c).map { $0..<min(n, $0 + c) }
    }

    /// Scaled sign (Karimireddy et al. 2019, EF-signSGD): per chunk, (‖x_c‖₁/|c|)·sign(x), 0 sent as +.
    /// One bit per element and one fp32 scale per chunk.
    public static func sign(_ x: [Float], chunk: Int) -> TensorMessage {
        let n = x.count, c = chunk > 0 ? chunk : max(n, 1)
        var decoded = [Float](repeating: 0, count: n)
        var bits = MessageBits()
        var start = 0
        while start < n {
            let end = min(n, start + c)
            var l1: Float = 0
            for i in start..<end { l1 += abs(x[i]) }
            let scale = l1 / Float(end - start)
            for i in start..<end { decoded[i] = x[i] >= 0 ? scale : -scale }
            bits.scales += 32
            start = end
        }
        bits.signs = n
        return TensorMessage(decoded: decoded, bits: bits)
    }

    /// QSGD (Alistarh et al. 2017) with `s` levels per bucket: q = ‖v‖·sign(v)·(l + [u < s|v|/‖v‖ − l])/s,
    /// l = ⌊s|v|/‖v‖⌋, with `uniforms[i]` the i-th draw. Per bucket a fp32 norm; per element a sign bit
    /// and ⌈log₂(s+1)⌉ level bits.
    public static func qsgd(_ x: [Float], levels s: Int, bucket: Int, uniforms: [Float]) -> TensorMessage {
        let n = x.count
        var decoded = [Float](repeating: 0, count: n)
        var bits = MessageBits()
        for r in chunks(n, bucket) {
            var ss: Float = 0
            for i in r { ss += x[i] * x[i] }
            let norm = ss.squareRoot()
            if norm > 0 {
                let f = Float(s) / norm
                for i in r {
                    let level = f * abs(x[i])
                    let low = level.rounded(.down)
                    let q = low + (uniforms[i] < level - low ? 1 : 0)
                    decoded[i] = (x[i] < 0 ? -q : (x[i] > 0 ? q : 0)) * norm / Float(s)
                }
            }
            bits.scales += 32
        }
        bits.signs = n
        bits.levels = n * indexBits(s + 1)
        return TensorMessage(decoded: decoded, bits: bits)
    }

    /// Gram–Schmidt on the columns of a row-major [rows × r] matrix, as PowerSGD's reference:
    /// each column divided by (its norm + 1e-8), then removed from the later columns.
    public static func orthogonalize(_ m: inout [Float], rows: Int, rank r: Int) {
        for j in 0..<r {
            var ss: Float = 0
            for i in 0..<rows { ss += m[i * r + j] * m[i * r + j] }
            let inv = 1 / (ss.squareRoot() + 1e-8)
            for i in 0..<rows { m[i * r + j] *= inv }
            for k in (j + 1)..<max(r, j + 1) {
                var dot: Float = 0
                for i in 0..<rows { dot += m[i * r + j] * m[i * r + k] }
                for i in 0..<rows { m[i * r + k] -= dot * m[i * r + j] }
            }
        }
    }

    /// DGC's sampling plan for a tensor of `count` elements at `ratio` (synxlin's `initialize`):
    /// (elements to select, samples, top-k of the samples, sample stride).
    public static func dgcPlan(
        count: Int, ratio: Double, sampleRatio: Double = 0.01
    ) -> (selects: Int, samples: Int, topSamples: Int, stride: Int) {
        var stride = 1, samples = count
        if sampleRatio < 1 {
            let pct = Int((Double(count) * sampleRatio).rounded(.up))
            let cpr = Int((2 / ratio).rounded(.up))
            if count > cpr {
                let want = max(pct, cpr)
                stride = Int((Double(count) / Double(want) / 32).rounded(.up)) * 32 + 1
                samples = count / stride
                while samples < want {
                    stride -= 8
                    samples = count / stride
                }
            }
        }
        let top = Int((Double(samples) * ratio).rounded(.up))
        let selects = Int((Double(count) * ratio).rounded(.up))
        return (selects, samples, top, stride)
    }

    /// DGC's sparsification of the accumulated velocity (synxlin `_sparsify`): a threshold from the top
    /// of a strided sample starting at `sampleStart`, adapted (×1.3 / ×0.8 bounds, ≤ 10 times) toward the
    /// target count, exact top-k among the candidates when far above it; at most `selects` indices kept.
    public static func dgcSelect(_ x: [Float], ratio: Double, sampleStart: Int, sampleRatio: Double = 0.01) -> [Int] {
        let n = x.count
        if n == 0 { return [] }
        let plan = dgcPlan(count: n, ratio: ratio, sampleRatio: sampleRatio)
        let importance = x.map { abs($0) }
        var samples: [Float]
        if plan.samples == n {
            samples = importance
        } else {
            samples = []
            var i = sampleStart
            while i < n {
                samples.append(importance[i])
                i += plan.stride
            }
        }
        var threshold = kthLargest(&samples, min(plan.topSamples, samples.count))
        var indices = (0..<n).filter { importance[$0] >= threshold }
        if n > plan.samples {
            for _ in 0..<10 {
                if indices.count > plan.selects {
                    if Double(indices.count) > Double(plan.selects) * 1.3 {
                        let sub = indices.map { importance[$0] }
                        indices = topK(sub, plan.selects).map { indices[$0] }
                        break
                    }
                    break
                } else if Double(indices.count) < 0.8 * Double(plan.selects) {
                    threshold *= 0.8
                } else {
                    break
                }
                indices = (0..<n).filter { importance[$0] >= threshold }
            }
        }
        return Array(indices.prefix(plan.selects))
    }
}
