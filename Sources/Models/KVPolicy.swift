import Foundation
import SqueezeCore

/// What a compressed KV cache stores: bits part by part for keys and values, against the elements
/// of the uncompressed cache (tokens × kv_dim × layers for each of K and V). Summed over every
/// sequence and window an evaluation runs.
public struct KVAccount: Sendable, Equatable {
    /// Bits of each stored part ("codes", "scales", "outliers", "fp16 tokens", …).
    public var keys: [String: Double] = [:], values: [String: Double] = [:]
    /// Elements of K (equal to those of V) the parts replace.
    public var elements = 0

    public init(elements: Int = 0) { self.elements = elements }

    public var keyBits: Double { keys.values.reduce(0, +) }
    public var valueBits: Double { values.values.reduce(0, +) }
    /// Bits per element of K and V together.
    public var bitsPerElement: Double { elements == 0 ? 0 : (keyBits + valueBits) / Double(2 * elements) }
    public var keyBitsPerElement: Double { elements == 0 ? 0 : keyBits / Double(elements) }
    public var valueBitsPerElement: Double { elements == 0 ? 0 : valueBits / Double(elements) }

    public mutating func add(_ o: KVAccount) {
        keys.merge(o.keys, uniquingKeysWith: +)
        values.merge(o.values, uniquingKeysWith: +)
        elements += o.elements
    }
}

/// How an evaluation runs a compressed cache (recorded with its result).
public enum KVMode: String, Sendable, CaseIterable {
    /// The whole window in one forward pass, attention reading the compressed-then-decompressed keys
    /// and values (how most papers report perplexity with a compressed cache).
    case simulated
    /// Token by token through the real cache, compressing as tokens arrive.
    case incremental
}

/// A compressor of keys and values as they enter the cache: it replaces the rows of one layer of
/// one sequence by what the cache would give back and counts what it stores. Quantizers are
/// transforms; they run once per window in simulated mode.
public protocol KVTransform: Sendable, CustomStringConvertible {
    /// Keys are handed over before RoPE (and rotated after decompression), as KVQuant stores them.
    var preRoPE: Bool { get }
    /// Each row is compressed from itself alone (and constants fixed beforehand), so incremental
    /// decoding and the simulated pass store the same values.
    var causal: Bool { get }
    /// The kv_dim of the model the transform was built for (calibrated constants), or nil.
    var kvDim: Int? { get }
    /// Compress `rows` rows (tokens at positions past, past + 1, …) of one layer's keys and values
    /// (rows × kv_dim each) in place; `queries` (rows × hidden, after RoPE) for methods that
    /// score tokens by attention. Returns what is stored.
    func apply(
        layer: Int, keys: inout [Float], values: inout [Float], queries: [Float], rows: Int, past: Int, config: LanguageModel.Config
    ) throws -> KVAccount
    /// Tables calibrated once for the model and shared by every sequence (thresholds, levels,
    /// bases), in bits by part: reported beside the cache, not in its bits per element.
    var constantBits: [String: Double] { get }
    /// Streaming (GEAR's): new rows wait in an fp16 buffer of this many and are compressed together,
    /// `buffer` rows at a time, once it is full — after the step that filled it has attended. A
    /// query at position t then reads the keys before b·⌊t/b⌋ compressed and the later ones exact,
    /// in both modes. 0: rows are compressed as they arrive (or the whole window at once).
    var buffer: Int { get }
}

extension KVTransform {
    public var constantBits: [String: Double] { [:] }
    public var buffer: Int { 0 }

    /// What `rows` rows waiting in the fp16 buffer store.
    func buffered(rows: Int, kvDim: Int) -> KVAccount {
        var a = KVAccount(elements: rows * kvDim)
        if rows > 0 {
            a.keys["fp16 buffer"] = Double(16 * rows * kvDim)
            a.values["fp16 buffer"] = Double(16 * rows * kvDim)
        }
        return a
    }
}

/// One key/value head's cache under an eviction or merging policy: the entries attention reads
/// (keys after RoPE), each with its position, a logit bias (log of a merged entry's count) and the
/// statistics policies score by.
public struct HeadCache: Sendable {
    public internal(set) var keys: [Float] = [], values: [Float] = []
    public internal(set) var positions: [Int] = []
    public internal(set) var bias: [Float] = []
    /// Attention mass each entry has received (summed over the group's query heads and queries).
    public internal(set) var score: [Double] = []
    /// Queries that have seen each entry (for normalised scores).
    public internal(set) var seen: [Int] = []
    /// Attention received recently: an exponential average over steps (decay 1 − 1/window).
    public internal(set) var local: [Double] = []
    /// Tokens merged into each entry (1 for a plain token).
    public internal(set) var merged: [Int] = []
    /// Whether the entry after the sinks is a compensation entry (RazorAttention).
    public internal(set) var compensated = false
    public var count: Int { positions.count }

    public init() {}

    mutating func append(key: ArraySlice<Float>, value: ArraySlice<Float>, position: Int) {
        keys += key
        values += value
        positions.append(position)
        bias.append(0)
        score.append(0)
        seen.append(0)
        local.append(0)
        merged.append(1)
    }

    /// Keeps the entries at `indices` (ascending), dropping the rest.
    public mutating func keep(_ indices: [Int], dim d: Int) {
        var k: [Float] = [], v: [Float] = []
        k.reserveCapacity(indices.count * d)
        v.reserveCapacity(indices.count * d)
        for i in indices {
            k += keys[(i * d)..<((i + 1) * d)]
            v += values[(i * d)..<((i + 1) * d)]
        }
        keys = k
        values = v
        positions = indices.map { positions[$0] }
        bias = indices.map { bias[$0] }
        score = indices.map { score[$0] }
        seen = indices.map { seen[$0] }
        local = indices.map { local[$0] }
        merged = indices.map { merged[$0] }
    }
}

/// A policy that decides which entries each head keeps as tokens arrive (eviction, merging).
public protocol KVEviction: Sendable, CustomStringConvertible {
    /// Called after the new tokens of a step have attended: trims `head` (layer, kv head) to its budget.
    func trim(_ head: inout HeadCache, layer: Int, kvHead: Int, dim: Int)
    /// Entries a head may hold after trimming (for the account).
    func budget(layer: Int, kvHead: Int) -> Int
    /// The model shape a policy built from a model's heads is for, or nil.
    var shape: (layers: Int, kvHeads: Int)? { get }
    /// Steps the local (recent) attention averages over.
    var localWindow: Int { get }
}

extension KVEviction {
    public var shape: (layers: Int, kvHeads: Int)? { nil }
    public var localWindow: Int { 32 }
}

/// A cache policy: a transform of what is stored, or a rule for what is kept.
public enum CachePolicy: Sendable, CustomStringConvertible {
    case transform(any KVTransform)
    case eviction(any KVEviction)

    public var description: String {
        switch self {
        case .transform(let t): return t.description
        case .eviction(let e): return e.description
        }
    }

    /// The policy's calibrated tables, in bits by part.
    public var constantBits: [String: Double] {
        if case .transform(let t) = self { return t.constantBits }
        return [:]
    }

    /// The mode a policy runs in when none is asked: transforms simulated, eviction incremental.
    public var defaultMode: KVMode {
        if case .eviction = self { return .incremental }
        return .simulated
    }

    /// Checks that the policy can run on `model` in `mode`.
    public func check(_ model: LanguageModel, mode: KVMode) throws {
        guard model.config.headDim % 8 == 0 else {
            throw ModelError("cache policies need a head dimension that is a multiple of 8; \(model.name) has \(model.config.headDim)")
        }
        switch self {
        case .transform(let t):
            if let d = t.kvDim, d != model.config.kvDim {
                throw ModelError(
                    "the cache policy was calibrated for a model with kv_dim \(d), and \(model.name) has \(model.config.kvDim)")
            }
            if t.buffer > 0 && t.preRoPE { throw ModelError("\(t.description): a streaming buffer holds keys after RoPE") }
            if mode == .incremental && !t.causal && t.buffer == 0 {
                throw ModelError(
                    "\(t.description) compresses from statistics of the whole window, which incremental decoding does not have: "
                        + "use mode: \"simulated\" (or calibrated constants, as cache.kvquant, or a streaming buffer, as buffer: in "
                        + "cache.gear, cache.zipcache and cache.cachegen)")
            }
        case .eviction(let e):
            if let s = e.shape, s != (model.config.layers, model.config.kvHeads) {
                throw ModelError(
                    "the cache policy was built for a model with \(s.layers) layers of \(s.kvHeads) key/value heads, and \(model.name) has "
                        + "\(model.config.layers) of \(model.config.kvHeads)")
            }
            if mode == .simulated {
                throw ModelError(
                    "\(description) decides what to keep as tokens arrive, which only the real cache defines: use mode: \"incremental\"")
            }
        }
    }
}
