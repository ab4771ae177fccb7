import Compression
import Foundation
import SqueezeCore

/// Rows of a window kept exact at fp16 as attention sinks: the first `sink` positions.
private func sinkRows(_ sink: Int, past: Int, rows: Int) -> Int { max(0, min(rows, sink - past)) }

/// Uniform integer quantization of the cache (KIVI's asymmetric min–max grid): keys per token
/// (groups of `group` channels) or per channel (groups of `span` tokens, the whole window when
/// span is 0), before or after RoPE; values per token in groups of `group` channels. The first
/// `sink` tokens stay fp16.
public struct IntCache: KVTransform {
    public var bits: Int, perChannel: Bool, group: Int, span: Int, preRoPE: Bool, sink: Int
    public init(bits: Int, perChannel: Bool, group: Int, span: Int = 0, preRoPE: Bool, sink: Int = 0) {
        self.bits = bits
        self.perChannel = perChannel
        self.group = group
        self.span = span
        self.preRoPE = preRoPE
        self.sink = sink
    }

    public var causal: Bool { !perChannel }
    public var kvDim: Int? { nil }
    public var description: String {
        "cache.int(bits: \(bits), per: \(perChannel ? "channel" : "token"), group: \(group)"
            + (perChannel ? ", span: \(span)" : "") + ", pre_rope: \(preRoPE), sink: \(sink))"
    }

    public func apply(
        layer: Int, keys: inout [Float], values: inout [Float], queries: [Float], rows: Int, past: Int, config: LanguageModel.Config
    ) throws -> KVAccount {
        let kvd = config.kvDim
        guard kvd % group == 0 else { throw ModelError("group \(group) does not divide the model's kv_dim \(kvd)") }
        let q0 = sinkRows(sink, past: past, rows: rows), n = rows - q0
        var a = KVAccount(elements: rows * kvd)
        var keyGroups = 0
        keys.withUnsafeMutableBufferPointer { kp in
            let base = kp.baseAddress! + q0 * kvd
            if perChannel {
                let s = span > 0 ? span : max(n, 1)
                for r0 in stride(from: 0, to: n, by: s) {
                    let count = min(s, n - r0)
                    for c in 0..<kvd { CacheQuantization.uniform(base + r0 * kvd + c, count: count, stride: kvd, bits: bits) }
                    keyGroups += kvd
                }
            } else {
                keyGroups = Self.perToken(base, rows: n, width: kvd, group: group, bits: bits)
            }
        }
        let valueGroups = values.withUnsafeMutableBufferPointer { vp in
            Self.perToken(vp.baseAddress! + q0 * kvd, rows: n, width: kvd, group: group, bits: bits)
        }
        for (part, groups) in [(\KVAccount.keys, keyGroups), (\KVAccount.values, valueGroups)] {
            a[keyPath: part]["codes"] = Double(bits * n * kvd)
            a[keyPath: part]["scales"] = Double(32 * groups)
            if q0 > 0 { a[keyPath: part]["fp16 tokens"] = Double(16 * q0 * kvd) }
        }
        return a
    }

    /// Each row's groups of `group` channels quantized; returns the number of groups.
    static func perToken(_ p: UnsafeMutablePointer<Float>, rows: Int, width: Int, group: Int, bits: Int) -> Int {
        for r in 0..<rows {
            for j in stride(from: 0, to: width, by: group) {
                CacheQuantization.uniform(p + r * width + j, count: group, stride: 1, bits: bits)
            }
        }
        return rows * (width / group)
    }
}

/// KVQuant (Hooper et al. 2024) on the live cache: keys per channel with thresholds calibrated
/// offline (before RoPE by default), values per token with their own percentiles; non-uniform
/// levels per layer from 1-D k-means on calibration values normalised to [−1, 1], each value weighted
/// by its diagonal Fisher information (∂L/∂x)² when `fisher` is set; Q-Norm (the reference's 2-bit
/// `--norm`) rescales the levels a code decodes to so the calibration's dequantized values keep
/// their mean and standard deviation; values outside the thresholds kept exact (dense-and-sparse);
/// the first `sink` tokens at fp16. The calibrated thresholds and levels are the model's tables,
/// counted apart from the cache (`constantBits`).
public struct KVQuantCache: KVTransform {
    public let bits: Int, outliers: Double, preRoPE: Bool, sink: Int, fisher: Bool, qnorm: Bool
    /// Per layer: each channel's calibrated key thresholds, the key and value levels codes are chosen
    /// by (ascending), and the levels they decode to (the same unless Q-Norm moved them).
    public let keyLow: [[Float]], keyHigh: [[Float]], keyLevels: [[Float]], valueLevels: [[Float]]
    public let keyDecode: [[Float]], valueDecode: [[Float]]
    /// Calibration tokens the constants came from.
    public let calibrationTokens: Int
    public let kvDim: Int?

    public init(
        bits: Int, outliers: Double, preRoPE: Bool, sink: Int, fisher: Bool = false, qnorm: Bool = false, keyLow: [[Float]],
        keyHigh: [[Float]], keyLevels: [[Float]], valueLevels: [[Float]], keyDecode: [[Float]]? = nil,
        valueDecode: [[Float]]? = nil, calibrationTokens: Int, kvDim: Int?
    ) {
        (self.bits, self.outliers, self.preRoPE, self.sink, self.fisher, self.qnorm) = (bits, outliers, preRoPE, sink, fisher, qnorm)
        (self.keyLow, self.keyHigh, self.keyLevels, self.valueLevels) = (keyLow, keyHigh, keyLevels, valueLevels)
        (self.keyDecode, self.valueDecode) = (keyDecode ?? keyLevels, valueDecode ?? valueLevels)
        (self.calibrationTokens, self.kvDim) = (calibrationTokens, kvDim)
    }

    public var causal: Bool { true }
    /// Each key channel's thresholds (two fp16) and every layer's key and value levels (fp16), and
    /// with Q-Norm each layer's scale and offset for keys and values (two fp16 each).
    public var constantBits: [String: Double] {
        var bits = [
            "thresholds": Double(32 * keyLow.reduce(0) { $0 + $1.count }),
            "levels": Double(16 * (keyLevels + valueLevels).reduce(0) { $0 + $1.count }),
        ]
        if qnorm { bits["q-norm"] = Double(2 * 32 * keyLevels.count) }
        return bits
    }
    public var description: String {
        "cache.kvquant(bits: \(bits), outliers: \(outliers), pre_rope: \(preRoPE), sink: \(sink), fisher: \(fisher), "
            + "q_norm: \(qnorm), calibration: \(calibrationTokens) tokens)"
    }

    /// The percentile pair of one sorted vector: [1 − t, t] with t = 1 − outliers/2, or its ends.
    static func thresholds(_ sorted: [Float], outliers: Double) -> (Float, Float) {
        guard outliers > 0 else { return (sorted.first ?? 0, sorted.last ?? 0) }
        let t = 1 - outliers / 2
        return (CacheQuantization.percentile(sorted, 1 - t), CacheQuantization.percentile(sorted, t))
    }

    /// Calibrates on `tokens` (cut into windows of `window`, each window's first `sink` tokens left
    /// out: the cache keeps them at fp16): per layer, each key channel's thresholds over all
    /// calibration tokens, and k-means levels of the normalised inliers of keys and of values (values
    /// normalised per token), weighted by (∂L/∂x)² of the mean next-token loss of each window when
    /// `fisher` (a backward pass per window).
    public static func calibrate(
        _ model: LanguageModel, tokens: [Int], window: Int, bits: Int, outliers: Double, preRoPE: Bool, sink: Int,
        fisher: Bool = false, qnorm: Bool = false, cancellation: CancellationToken?
    ) throws -> KVQuantCache {
        let c = model.config, kvd = c.kvDim
        let (K, V, FK, FV) = try CalibrationCapture.of(
            model, tokens: tokens, window: window, preRoPE: preRoPE, fisher: fisher, sink: sink, cancellation: cancellation
        ).parts
        let task = ProgressMeter.start("kvquant calibration", total: c.layers)
        defer { task.end() }
        var lows: [[Float]] = [], highs: [[Float]] = [], levels: [[[Float]]] = [[], []], decode: [[[Float]]] = [[], []]
        for l in 0..<c.layers {
            try cancellation?.check()
            let n = K[l].count / kvd
            var lo = [Float](repeating: 0, count: kvd), hi = lo
            var samples: [Sample] = [Sample(), Sample()]
            if n > 0 {
                for ch in 0..<kvd {
                    let column = (0..<n).map { K[l][$0 * kvd + ch] }
                    (lo[ch], hi[ch]) = thresholds(column.sorted(), outliers: outliers)
                    samples[0].add(column, fisher ? (0..<n).map { FK[l][$0 * kvd + ch] } : nil, lo[ch], hi[ch])
                }
                for r in 0..<n {
                    let row = Array(V[l][(r * kvd)..<((r + 1) * kvd)])
                    let (a, b) = thresholds(row.sorted(), outliers: outliers)
                    samples[1].add(row, fisher ? Array(FV[l][(r * kvd)..<((r + 1) * kvd)]) : nil, a, b)
                }
            }
            lows.append(lo)
            highs.append(hi)
            for (i, sample) in samples.enumerated() {
                let found = sample.levels(bits: bits)
                levels[i].append(found)
                decode[i].append(qnorm ? sample.normalised(found) : found)
            }
            task.advance()
        }
        return KVQuantCache(
            bits: bits, outliers: outliers, preRoPE: preRoPE, sink: sink, fisher: fisher, qnorm: qnorm, keyLow: lows, keyHigh: highs,
            keyLevels: levels[0], valueLevels: levels[1], keyDecode: decode[0], valueDecode: decode[1],
            calibrationTokens: tokens.count, kvDim: kvd)
    }

    /// A layer's calibration values normalised to [−1, 1] (inliers only), with their weights.
    struct Sample {
        var values: [Float] = [], weights: [Float] = [], weighted = false

        mutating func add(_ v: [Float], _ w: [Float]?, _ lo: Float, _ hi: Float) {
            let z = CacheQuantization.half((hi + lo) / 2), r = CacheQuantization.half(hi > lo ? (hi - lo) / 2 : 1)
            for (i, x) in v.enumerated() where x >= lo && x <= hi {
                values.append((x - z) / r)
                if let w {
                    weights.append(w[i])
                    weighted = true
                }
            }
        }

        /// 2^b levels by deterministic (weighted) 1-D k-means; a layer with no values (a dropped
        /// block) gets the uniform grid on [−1, 1].
        func levels(bits: Int) -> [Float] {
            let k = 1 << bits
            guard !values.isEmpty else { return (0..<k).map { -1 + 2 * Float($0) / Float(max(k - 1, 1)) } }
            let order = values.indices.sorted { values[$0] < values[$1] }
            return CacheQuantization.levels(sorted: order.map { values[$0] }, weights: weighted ? order.map { weights[$0] } : nil, k: k)
        }

        /// Q-Norm: the levels an affine map sends the sample's dequantized values to the sample's
        /// own mean m₁ and standard deviation σ₁: ℓ' = ℓ·σ₁/σ₂ + (m₁ − m₂·σ₁/σ₂), m₂ and σ₂ those of
        /// the sample rounded to `levels` (unweighted).
        func normalised(_ levels: [Float]) -> [Float] {
            guard values.count > 1 else { return levels }
            var s1 = 0.0, q1 = 0.0, s2 = 0.0, q2 = 0.0
            levels.withUnsafeBufferPointer { lv in
                for x in values {
                    let y = Double(lv[CacheQuantization.nearest(x, lv)])
                    (s1, q1, s2, q2) = (s1 + Double(x), q1 + Double(x) * Double(x), s2 + y, q2 + y * y)
                }
            }
            let n = Double(values.count), m1 = s1 / n, m2 = s2 / n
            let sd1 = max(0, q1 / n - m1 * m1).squareRoot(), sd2 = max(0, q2 / n - m2 * m2).squareRoot()
            guard sd2 > 0 else { return levels }
            let scale = sd1 / sd2
            return levels.map { Float(Double($0) * scale + (m1 - m2 * scale)) }
        }
    }

    public func apply(
        layer: Int, keys: inout [Float], values: inout [Float], queries: [Float], rows: Int, past: Int, config: LanguageModel.Config
    ) throws -> KVAccount {
        let kvd = config.kvDim, q0 = sinkRows(sink, past: past, rows: rows), n = rows - q0
        var a = KVAccount(elements: rows * kvd)
        var keyOutliers = 0, valueOutliers = 0
        keyLevels[layer].withUnsafeBufferPointer { levels in
            keyDecode[layer].withUnsafeBufferPointer { decode in
                keys.withUnsafeMutableBufferPointer { kp in
                    for ch in 0..<kvd {
                        keyOutliers += CacheQuantization.nonUniform(
                            kp.baseAddress! + q0 * kvd + ch, count: n, stride: kvd, lo: keyLow[layer][ch], hi: keyHigh[layer][ch],
                            levels: levels, decode: decode, outliers: outliers > 0)
                    }
                }
            }
        }
        valueLevels[layer].withUnsafeBufferPointer { levels in
            valueDecode[layer].withUnsafeBufferPointer { decode in
                values.withUnsafeMutableBufferPointer { vp in
                    for r in q0..<rows {
                        let row = vp.baseAddress! + r * kvd
                        let (lo, hi) = Self.thresholds(Array(UnsafeBufferPointer(start: row, count: kvd)).sorted(), outliers: outliers)
                        valueOutliers += CacheQuantization.nonUniform(
                            row, count: kvd, stride: 1, lo: lo, hi: hi, levels: levels, decode: decode, outliers: outliers > 0)
                    }
                }
            }
        }
        a.keys["codes"] = Double(bits * n * kvd)
        a.values["codes"] = Double(bits * n * kvd)
        a.keys["outliers"] = Double(48 * keyOutliers)
        a.values["outliers"] = Double(48 * valueOutliers)
        a.values["scales"] = Double(32 * n)
        if q0 > 0 {
            a.keys["fp16 tokens"] = Double(16 * q0 * kvd)
            a.values["fp16 tokens"] = Double(16 * q0 * kvd)
        }
        return a
    }
}
