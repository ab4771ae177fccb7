import Compression
import Foundation
import Models
import SqueezeCore

/// The recipe side of cache policies: the `cache:` and `mode:` arguments, a policy value read
/// back into the model's policy, and what a result computed with one adds.
extension Builtins {
    static let cacheParam = ParamSpec(
        "cache", .any, .none, namedOnly: true, doc: "a KV-cache policy (cache.int, cache.kvquant, cache.window, cache.h2o)")
    static let cacheModeParam = ParamSpec(
        "mode", .choice(KVMode.allCases.map(\.rawValue)), .none, namedOnly: true,
        doc: "\"simulated\" (one pass per window; quantizers' default) or \"incremental\" (token by token; eviction's default)")

    /// The policy and mode an evaluation is asked to use, or nil without `cache:`.
    static func cacheRun(_ args: Arguments, _ m: LanguageModel) throws -> LanguageModel.CacheRun? {
        guard !args.isNone("cache") else {
            guard args.isNone("mode") else { throw args.error("mode", "mode: applies with a cache policy (cache: cache.int(bits: 4), …)") }
            return nil
        }
        let policy = try cachePolicy(args.value("cache"), args, "cache")
        let mode = try args.isNone("mode") ? nil : KVMode(rawValue: try args.string("mode"))
        let run = LanguageModel.CacheRun(policy, mode: mode)
        try LM.wrap(args, "cache") { try policy.check(m, mode: run.mode) }
        return run
    }

    /// What an evaluation with a cache policy adds to its result.
    static func cacheFields(_ run: LanguageModel.CacheRun?, _ account: KVAccount?) -> [(String, Value)] {
        guard let run, let a = account else { return [] }
        func parts(_ p: [String: Double]) -> Value {
            .record(Record(pairs: p.keys.sorted().map { ($0, .number(a.elements == 0 ? 0 : p[$0]! / Double(a.elements))) }))
        }
        return [
            ("cache", .string(run.policy.description)), ("mode", .string(run.mode.rawValue)),
            ("kv_bits_per_element", .number(a.bitsPerElement)),
            ("kv_bits", .record(Record(pairs: [("K", .number(a.keyBitsPerElement)), ("V", .number(a.valueBitsPerElement))]))),
            ("kv_parts", .record(Record(pairs: [("K", parts(a.keys)), ("V", parts(a.values))]))),
            ("kv_constant_bits", .number(run.policy.constantBits.values.reduce(0, +))),
        ]
    }

    /// A policy value back to the model's policy, checking every field.
    static func cachePolicy(_ v: Value, _ args: Arguments, _ name: String) throws -> CachePolicy {
        guard case .record(let r) = v, case .string(let method)? = r["cache"] else {
            throw args.error(name, "'\(name)' must be a cache policy (cache.int, cache.kvquant, …), got \(v.typeDescription)")
        }
        func int(_ k: String) throws -> Int {
            guard case .number(let x)? = r[k], x == x.rounded(), abs(x) < 1e9 else {
                throw args.error(name, "the policy's \(k) must be a whole number")
            }
            return Int(x)
        }
        func number(_ k: String) throws -> Double {
            guard case .number(let x)? = r[k] else { throw args.error(name, "the policy's \(k) must be a number") }
            return x
        }
        func bool(_ k: String) throws -> Bool {
            guard case .bool(let x)? = r[k] else { throw args.error(name, "the policy's \(k) must be true or false") }
            return x
        }
        func rows(_ k: String) throws -> [[Float]] {
            guard case .tensor(let t)? = r[k], t.rank == 2 else { throw args.error(name, "the policy's \(k) must be a matrix") }
            return (0..<t.shape[0]).map { Array(t.storage[($0 * t.shape[1])..<(($0 + 1) * t.shape[1])]) }
        }
        switch method {
        case "int":
            return .transform(
                IntCache(
                    bits: try int("bits"), perChannel: r["per"]?.stringValue == "channel", group: try int("group"), span: try int("span"),
                    preRoPE: try bool("pre_rope"), sink: try int("sink")))
        case "kvquant":
            let low = try rows("k_low")
            return .transform(
                KVQuantCache(
                    bits: try int("bits"), outliers: try number("outliers"), preRoPE: try bool("pre_rope"), sink: try int("sink"),
                    fisher: try bool("fisher"), qnorm: try bool("q_norm"), keyLow: low, keyHigh: try rows("k_high"),
                    keyLevels: try rows("k_levels"), valueLevels: try rows("v_levels"), keyDecode: try rows("k_decode"),
                    valueDecode: try rows("v_decode"), calibrationTokens: try int("calibration"), kvDim: low.first?.count))
        case "zipcache":
            guard let score = r["score"]?.stringValue.flatMap(ZipCacheTransform.Score.init(rawValue:)) else {
                throw args.error(name, "the policy's score must be \"normalized\", \"accumulated\" or \"random\"")
            }
            return .transform(
                ZipCacheTransform(
                    high: try int("high"), low: try int("low"), salient: try number("salient"), group: try int("group"), score: score,
                    probes: try number("probes"), seed: UInt64(max(0, try int("seed"))), buffer: try int("buffer")))
        case "gear":
            return .transform(
                GEARTransform(
                    bits: try int("bits"), group: try int("group"), rank: try int("rank"), outliers: try number("outliers"),
                    buffer: try int("buffer")))
        case "razor":
            guard case .tensor(let full)? = r["full"], full.rank == 2 else { throw args.error(name, "the policy's full must be a matrix") }
            let heads = Set(full.storage.indices.filter { full.storage[$0] != 0 })
            return .eviction(
                RazorEviction(
                    full: heads, layers: full.shape[0], kvHeads: full.shape[1], sink: try int("sink"), recent: try int("recent"),
                    compensation: try bool("compensation")))
        case "ems":
            return .eviction(
                EvictMergeEviction(
                    tokens: try int("tokens"), sink: try int("sink"), recent: try int("recent"), merge: try bool("merge"),
                    similarity: try number("similarity"), window: try int("window")))
        case "cskv":
            func bases(_ k: String) throws -> [Tensor] {
                guard case .tensor(let t)? = r[k], t.rank == 3 else { throw args.error(name, "the policy's \(k) must be a 3-D tensor") }
                let (L, n, rk) = (t.shape[0], t.shape[1], t.shape[2])
                return (0..<L).map { Tensor(shape: [n, rk], storage: Array(t.storage[($0 * n * rk)..<(($0 + 1) * n * rk)])) }
            }
            return .transform(
                ChannelShrinkTransform(
                    rank: try int("rank"), recent: try int("recent"), bits: try int("bits"), source: r["source"]?.stringValue ?? "",
                    keyBasis: try bases("k_basis"), valueBasis: try bases("v_basis")))
        case "cachegen":
            let t = CacheGenTransform(
                keyBins: try int("key_bins"), valueBins: try int("value_bins"), deep: try number("deep"), delta: try bool("delta"),
                tables: r["tables"]?.stringValue ?? "channel", buffer: try int("buffer"))
            guard case .tensor(let P)? = r["profiles"] else { return .transform(t) }
            guard P.rank == 4, P.shape[1] == 2 else {
                throw args.error(name, "the policy's profiles must be layers × 2 × kv_dim × symbols")
            }
            let (L, C, S) = (P.shape[0], P.shape[2], P.shape[3])
            let profiles = (0..<L).map { l in
                [t.keyBins, t.valueBins].enumerated().map { p, b in
                    let size = 2 * CacheGen.half(t.bins(b, layer: l, layers: L)) + 1
                    return (0..<C).map { j in (0..<min(size, S)).map { Int(P.storage[((l * 2 + p) * C + j) * S + $0]) } }
                }
            }
            return .transform(
                CacheGenTransform(
                    keyBins: t.keyBins, valueBins: t.valueBins, deep: t.deep, delta: t.delta, tables: "channel", profiles: profiles,
                    buffer: t.buffer))
        case "window": return .eviction(WindowEviction(tokens: try int("tokens"), sink: try int("sink")))
        case "h2o": return .eviction(HeavyHitterEviction(tokens: try int("tokens"), recent: try int("recent")))
        default: throw args.error(name, "no cache policy \(Format.quoted(method))")
        }
    }

    static func policyRecord(_ method: String, _ fields: [(String, Value)]) -> Value {
        .record(Record(pairs: [("cache", .string(method))] + fields))
    }
}
