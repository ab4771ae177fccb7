import Compression
import Foundation
import SqueezeCore

/// CacheGen on the live cache (Liu et al. 2024): per-token symmetric quantization with `keyBins`
/// and `valueBins` intervals in the first half of the layers and `deep`× as many in the deeper
/// half (deeper layers are less sensitive), optional deltas to an anchor per group of 10 tokens,
/// and rANS with a frequency table per (layer, channel) ("channel") or one per layer ("layer");
/// what is stored is the real length of the streams and an fp16 scale per token vector. The
/// tables are the window's own, stored with each stream — or, as CacheGen does, profiled offline
/// on calibration text (`profiles`: the model's tables, counted apart). One stream per window
/// (simulated mode), or per chunk of `buffer` tokens as they arrive (CacheGen codes a context in
/// chunks; the newest tokens wait at fp16 until their chunk is full; both modes).
public struct CacheGenTransform: KVTransform {
    public let keyBins: Int, valueBins: Int, deep: Double, delta: Bool, tables: String, buffer: Int
    /// Per layer, keys and values, channel: counts of each symbol −h…h on the calibration text.
    public let profiles: [[[[Int]]]]?
    public init(
        keyBins: Int, valueBins: Int, deep: Double, delta: Bool, tables: String, profiles: [[[[Int]]]]? = nil, buffer: Int = 0
    ) {
        (self.keyBins, self.valueBins, self.deep, self.delta, self.tables, self.profiles, self.buffer) = (
            keyBins, valueBins, deep, delta, tables, profiles, buffer
        )
    }

    /// Profiles the symbols of the model's cache on `tokens` (windows of `window`).
    public func profiled(_ model: LanguageModel, tokens: [Int], window: Int, cancellation: CancellationToken?) throws -> CacheGenTransform {
        let c = model.config, kvd = c.kvDim
        var counts = (0..<c.layers).map { l in
            [keyBins, valueBins].map { b in
                Array(repeating: [Int](repeating: 0, count: 2 * CacheGen.half(bins(b, layer: l, layers: c.layers)) + 1), count: kvd)
            }
        }
        try model.calibrationPasses(tokens, window: window, cancellation: cancellation) { out, rows in
            for l in 0..<c.layers {
                guard let K = out.keys[l], let V = out.values[l] else { continue }
                for (p, (X, base)) in [(K, keyBins), (V, valueBins)].enumerated() {
                    let b = bins(base, layer: l, layers: c.layers), h = CacheGen.half(b)
                    let q = CacheGen.quantize(X.storage, rows: rows, cols: kvd, bins: b, delta: delta)
                    for (i, sym) in q.symbols.enumerated() { counts[l][p][i % kvd][sym + h] += 1 }
                }
            }
        }
        return CacheGenTransform(
            keyBins: keyBins, valueBins: valueBins, deep: deep, delta: delta, tables: "channel", profiles: counts, buffer: buffer)
    }

    /// The profiled tables: a 12-bit frequency per symbol of every (layer, K/V, channel).
    public var constantBits: [String: Double] {
        guard let profiles else { return [:] }
        return ["tables": Double(12 * profiles.reduce(0) { $0 + $1.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } } })]
    }

    public var preRoPE: Bool { false }
    public var causal: Bool { false }
    public var kvDim: Int? { nil }
    public var description: String {
        "cache.cachegen(key_bins: \(keyBins), value_bins: \(valueBins), deep: \(deep), delta: \(delta), tables: "
            + (profiles == nil ? tables : "profiled") + (buffer > 0 ? ", buffer: \(buffer))" : ")")
    }

    /// The bins of a layer: the given number in the first half of the model, `deep`× in the rest.
    public func bins(_ base: Int, layer: Int, layers: Int) -> Int {
        layer < layers / 2 ? base : max(3, Int((Double(base) * deep).rounded()))
    }

    public func apply(
        layer: Int, keys: inout [Float], values: inout [Float], queries: [Float], rows n: Int, past: Int, config c: LanguageModel.Config
    ) throws -> KVAccount {
        let kvd = c.kvDim
        var a = KVAccount(elements: n * kvd)
        for (p, (part, base)) in [(\KVAccount.keys, keyBins), (\KVAccount.values, valueBins)].enumerated() {
            let isKeys = part == \KVAccount.keys
            let b = bins(base, layer: layer, layers: c.layers), h = CacheGen.half(b)
            let q = CacheGen.quantize(isKeys ? keys : values, rows: n, cols: kvd, bins: b, delta: delta)
            if isKeys { keys = q.recon } else { values = q.recon }
            var stream = 0
            if let profiles {
                guard profiles.count == c.layers, profiles[layer][p].count == kvd, profiles[layer][p][0].count == 2 * h + 1 else {
                    throw ModelError("the CacheGen tables were profiled for another model or other bins")
                }
                let alphabet = Array(-h...h)
                for j in 0..<kvd {
                    let column = (0..<n).map { q.symbols[$0 * kvd + j] }
                    do { stream += 8 * (try Entropy.encode(column, alphabet: alphabet, counts: profiles[layer][p][j])).bytes.count } catch {
                        throw ModelError("\(error)")
                    }
                }
            } else {
                stream = tables == "layer" ? Entropy.encode(q.symbols).totalBits : CacheGen.bitsPerColumn(q.symbols, rows: n, cols: kvd)
            }
            a[keyPath: part]["stream"] = Double(stream)
            a[keyPath: part]["scales"] = Double(16 * q.scales)
        }
        return a
    }
}

extension LanguageModel {
    /// CacheGen's bitstream on one window of this model's cache, three ways, and the conditional
    /// entropies behind the paper's choice of grouping (its Insight 3).
    public struct CacheGenStatistics: Sendable {
        /// Stream bits per element (K and V, scales included) with a table per (layer, channel), with
        /// deltas to anchors, and with one table for every symbol of the window.
        public var perChannel = 0.0, delta = 0.0, global = 0.0
        /// With tables profiled offline (the policy's), when it has them.
        public var profiled: Double? = nil
        /// H(symbol | layer, channel), H(symbol | token position), H(symbol), in bits per symbol.
        public var entropyGivenLayerChannel = 0.0, entropyGivenPosition = 0.0, entropy = 0.0
        public var tokens = 0
    }

    public func cacheGenStatistics(
        _ window: [Int], policy t: CacheGenTransform, cancellation: CancellationToken?
    ) throws
        -> CacheGenStatistics
    {
        let c = config, kvd = c.kvDim, n = window.count
        var capture = Capture()
        capture.kv = Set(0..<c.layers)
        let out = try forward([window], capture: capture, cancellation: cancellation)
        var raw: [[Int]] = [], deltas: [[Int]] = []  // per (layer, K/V): n × kv_dim symbols
        var scales = 0, deltaScales = 0
        for l in 0..<c.layers {
            guard let K = out.keys[l], let V = out.values[l] else { continue }
            for (X, base) in [(K, t.keyBins), (V, t.valueBins)] {
                let bins = t.bins(base, layer: l, layers: c.layers)
                let q = CacheGen.quantize(X.storage, rows: n, cols: kvd, bins: bins, delta: false)
                let d = CacheGen.quantize(X.storage, rows: n, cols: kvd, bins: bins, delta: true)
                raw.append(q.symbols)
                deltas.append(d.symbols)
                scales += q.scales
                deltaScales += d.scales
            }
        }
        let elements = Double(raw.count * n * kvd)
        var s = CacheGenStatistics()
        s.tokens = n
        s.perChannel = Double(raw.reduce(0) { $0 + CacheGen.bitsPerColumn($1, rows: n, cols: kvd) } + 16 * scales) / elements
        s.delta = Double(deltas.reduce(0) { $0 + CacheGen.bitsPerColumn($1, rows: n, cols: kvd) } + 16 * deltaScales) / elements
        if t.profiles != nil {
            var a = KVAccount()
            for l in 0..<c.layers {
                guard var K = out.keys[l]?.storage, var V = out.values[l]?.storage else { continue }
                a.add(try t.apply(layer: l, keys: &K, values: &V, queries: [], rows: n, past: 0, config: c))
            }
            s.profiled = a.bitsPerElement
        }
        let all = raw.flatMap { $0 }
        s.global = Double(Entropy.encode(all).totalBits + 16 * scales) / elements
        s.entropy = Entropy.empirical(all)
        s.entropyGivenLayerChannel = CacheGen.conditionalEntropy(
            raw.flatMap { m in (0..<kvd).map { j in (0..<n).map { m[$0 * kvd + j] } } })
        s.entropyGivenPosition = CacheGen.conditionalEntropy((0..<n).map { r in raw.flatMap { $0[(r * kvd)..<((r + 1) * kvd)] } })
        return s
    }
}
