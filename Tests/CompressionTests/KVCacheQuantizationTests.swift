import Foundation
import SqueezeCore
import TestSupport
import Testing

@testable import Compression

/// The live KV cache's quantizers against numpy ports of KIVI's, GEAR's and KVQuant's reference code
/// (Fixtures/make_kv_cache_fixtures.py) on a 12 × 16 cache with outlier channels: reconstructions
/// equal to 1e-6 (the same float32 operations; numpy's percentile interpolates in float64).
@Suite struct KVCacheQuantizationTests {
    static let fixture = Fixture.load("kv_cache", script: "make_kv_cache_fixtures.py", bundle: .module)

    func close(_ a: [Float], _ b: [Float], tol: Float = 1e-6, _ what: String) {
        #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count)")
        let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst <= tol, "\(what): worst difference \(worst)")
    }

    /// GEAR's D̂ = Q(D − S) + L + S against its numpy port (the low rank from LAPACK's SVD on one side and
    /// numpy's on the other: 1e-5).
    @Test func gearEqualsTheReference() throws {
        let X = Self.fixture["X"].tensor
        for case let c in Self.fixture["gear"].items {
            let (bits, group, rank) = (Int(c["bits"].double), Int(c["group"].double), Int(c["rank"].double))
            let g = try GEAR.compress(X, bits: bits, group: group, rank: rank, outliers: c["outliers"].double)
            close(g.recon.storage, c["recon"].tensor.storage, tol: 1e-5, "gear \(bits) bits, rank \(rank)")
        }
    }

    @Test func uniformGroupsEqualKIVI() {
        let X = Self.fixture["X"].tensor
        let (m, n) = (X.shape[0], X.shape[1])
        for case let c in Self.fixture["int"].items {
            var x = X.storage
            let bits = Int(c["bits"].double)
            x.withUnsafeMutableBufferPointer { p in
                if c["per"].string == "token" {
                    let g = Int(c["group"].double)
                    for r in 0..<m {
                        for j in stride(from: 0, to: n, by: g) {
                            CacheQuantization.uniform(p.baseAddress! + r * n + j, count: g, stride: 1, bits: bits)
                        }
                    }
                } else {
                    let span = Int(c["span"].double) == 0 ? m : Int(c["span"].double)
                    for r0 in stride(from: 0, to: m, by: span) {
                        for j in 0..<n {
                            CacheQuantization.uniform(p.baseAddress! + r0 * n + j, count: min(span, m - r0), stride: n, bits: bits)
                        }
                    }
                }
            }
            close(x, c["recon"].tensor.storage, "\(c["per"].string) \(bits) bits")
            // At most 2^b distinct values per group; the per-channel case has 2^b per column at most.
            if c["per"].string == "channel", Int(c["span"].double) == 0 {
                for j in 0..<n { #expect(Set((0..<m).map { x[$0 * n + j] }).count <= 1 << bits) }
            }
        }
    }

    @Test func constantGroupsAndOneValueKeepTheirHalfPrecisionValue() {
        var x: [Float] = [0.1, 0.1, 0.1]
        x.withUnsafeMutableBufferPointer { CacheQuantization.uniform($0.baseAddress!, count: 3, stride: 1, bits: 2) }
        #expect(x == [Float](repeating: Float(Float16(0.1)), count: 3))
        var one: [Float] = [3.3]
        one.withUnsafeMutableBufferPointer { CacheQuantization.uniform($0.baseAddress!, count: 1, stride: 1, bits: 4) }
        #expect(one == [Float(Float16(3.3))])
        var empty: [Float] = [7]
        empty.withUnsafeMutableBufferPointer { CacheQuantization.uniform($0.baseAddress!, count: 0, stride: 1, bits: 4) }
        #expect(empty == [7])
    }

    @Test func nonUniformLevelsAndOutliersEqualKVQuant() {
        let X = Self.fixture["X"].tensor, levels = Self.fixture["levels"].tensor.storage
        let (m, n) = (X.shape[0], X.shape[1])
        for c in Self.fixture["nuq"].items {
            let outliers = c["outliers"].double
            var rows = X.storage, cols = X.storage
            var kept = 0
            levels.withUnsafeBufferPointer { lv in
                rows.withUnsafeMutableBufferPointer { p in
                    for r in 0..<m {
                        let v = Array(X.storage[(r * n)..<((r + 1) * n)]).sorted()
                        let (lo, hi) = Self.thresholds(v, outliers)
                        kept += CacheQuantization.nonUniform(
                            p.baseAddress! + r * n, count: n, stride: 1, lo: lo, hi: hi, levels: lv, outliers: outliers > 0)
                    }
                }
                cols.withUnsafeMutableBufferPointer { p in
                    for j in 0..<n {
                        let v = (0..<m).map { X.storage[$0 * n + j] }.sorted()
                        let (lo, hi) = Self.thresholds(v, outliers)
                        CacheQuantization.nonUniform(
                            p.baseAddress! + j, count: m, stride: n, lo: lo, hi: hi, levels: lv, outliers: outliers > 0)
                    }
                }
            }
            close(rows, c["per_token"].tensor.storage, tol: 1e-5, "per token, outliers \(outliers)")
            close(cols, c["per_channel"].tensor.storage, tol: 1e-5, "per channel, outliers \(outliers)")
            // 20% outliers: the 10th percentile of 16 values lies between the 2nd and 3rd smallest, so
            // each row keeps its two smallest and two largest values.
            #expect(outliers == 0 ? kept == 0 : kept == 4 * m)
        }
    }

    static func thresholds(_ sorted: [Float], _ outliers: Double) -> (Float, Float) {
        guard outliers > 0 else { return (sorted.first!, sorted.last!) }
        let t = 1 - outliers / 2
        return (CacheQuantization.percentile(sorted, 1 - t), CacheQuantization.percentile(sorted, t))
    }

    @Test func nearestLevelTakesTheLowerOnATie() {
        let levels: [Float] = [-1, 0, 1]
        levels.withUnsafeBufferPointer { lv in
            #expect(CacheQuantization.nearest(-0.5, lv) == 0)
            #expect(CacheQuantization.nearest(0.5, lv) == 1)
            #expect(CacheQuantization.nearest(0.51, lv) == 2)
            #expect(CacheQuantization.nearest(-7, lv) == 0 && CacheQuantization.nearest(9, lv) == 2)
        }
    }
}

/// CacheGen's quantizer against its numpy port, and its streams' bits.
@Suite struct CacheGenTests {
    @Test func perTokenSymbolsAndDeltasEqualTheReference() {
        let X = KVCacheQuantizationTests.fixture["X"].tensor
        for c in KVCacheQuantizationTests.fixture["cachegen"].items {
            let bins = Int(c["bins"].double), delta = c["delta"].value as? Bool ?? false
            let q = CacheGen.quantize(X.storage, rows: X.shape[0], cols: X.shape[1], bins: bins, delta: delta)
            #expect(q.symbols == c["symbols"].tensor.storage.map { Int($0) }, "bins \(bins), delta \(delta)")
            let want = c["recon"].tensor.storage
            #expect(zip(q.recon, want).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "bins \(bins), delta \(delta)")
            #expect(q.scales == X.shape[0] && q.symbols.allSatisfy { abs($0) <= CacheGen.half(bins) })
        }
    }

    @Test func streamsCountTheirRealBytesAndTables() throws {
        // Two columns of 6 symbols: each column is its own rANS stream with its own table.
        let symbols = [0, 1, 0, 1, 0, 2, 1, 2, 0, 1, 0, 1]
        let per = CacheGen.bitsPerColumn(symbols, rows: 6, cols: 2)
        let a = Entropy.encode([0, 0, 0, 1, 0, 0]), b = Entropy.encode([1, 1, 2, 2, 1, 1])
        #expect(per == a.totalBits + b.totalBits)
        // A table fixed beforehand: the stream decodes to the symbols, and unseen symbols still code.
        let s = try Entropy.encode([3, -3, 0, 0], alphabet: Array(-3...3), counts: [0, 0, 0, 50, 0, 0, 0])
        #expect(try Entropy.decode(s) == [3, -3, 0, 0])
        #expect(throws: CoreError.self) { try Entropy.encode([9], alphabet: [0, 1], counts: [1, 1]) }
        // H(symbol | group) weights each group's entropy by its size.
        #expect(abs(CacheGen.conditionalEntropy([[0, 1], [2, 2, 2, 2]]) - 1.0 / 3) < 1e-12)
    }
}
