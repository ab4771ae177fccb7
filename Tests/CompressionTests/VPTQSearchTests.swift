import Foundation
import SqueezeCore
import Testing

@testable import Compression

/// The pruned nearest-entry walk returns exactly what the full scan returns, ties and degenerate
/// weights included.
@Suite struct VPTQSearchTests {
    static func scan(_ x: [Double], _ book: [Double], _ w: [Double], dim v: Int) -> Int {
        x.withUnsafeBufferPointer { xp in
            book.withUnsafeBufferPointer { bp in
                w.withUnsafeBufferPointer {
                    VPTQ.nearest(xp.baseAddress!, bp.baseAddress!, count: book.count / v, dim: v, weights: $0.baseAddress!)
                }
            }
        }
    }

    @Test(arguments: [1, 2, 3, 4, 8])
    func walkEqualsTheFullScan(dim v: Int) {
        var rng = RandomGenerator(seed: UInt64(v))
        for k in [1, 7, 9, 64, 256] {
            // Entries on a coarse grid so that exact ties occur, and some entries repeated.
            var book = (0..<(k * v)).map { _ in (rng.uniform() * 8).rounded() / 4 - 1 }
            if k > 4 { for d in 0..<v { book[3 * v + d] = book[v + d] } }
            let search = VPTQ.Search(book, dim: v)
            for trial in 0..<400 {
                var x = (0..<v).map { _ in (rng.uniform() * 10).rounded() / 4 - 1.25 }
                var w = (0..<v).map { _ in rng.uniform() < 0.2 ? 0 : (rng.uniform() * 4).rounded() / 2 }
                if trial % 50 == 0 { w = [Double](repeating: 0, count: v) }
                if trial % 97 == 1 { x[0] = .nan }
                if trial % 89 == 2 { w[v - 1] = .infinity }
                if trial % 83 == 3 { x[0] = 1e300 }
                let got = x.withUnsafeBufferPointer { xp in
                    w.withUnsafeBufferPointer { search.nearest(xp.baseAddress!, weights: $0.baseAddress!) }
                }
                #expect(got == Self.scan(x, book, w, dim: v), "k \(k), x \(x), w \(w)")
            }
        }
    }

    @Test func nonFiniteEntriesAreScannedInFull() {
        let book = [0.0, 0, 1, 1, .nan, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]
        let search = VPTQ.Search(book, dim: 2)
        for x in [[0.9, 1.2], [4.0, 2.0], [8.6, 8.4]] {
            let w = [1.0, 2.0]
            let got = x.withUnsafeBufferPointer { xp in
                w.withUnsafeBufferPointer { search.nearest(xp.baseAddress!, weights: $0.baseAddress!) }
            }
            #expect(got == Self.scan(x, book, w, dim: 2))
        }
    }

    @Test func selectionAndTheStratifiedSample() {
        var rng = RandomGenerator(seed: 5)
        for n in [1, 2, 5, 100, 1001] {
            let values = (0..<n).map { _ in (rng.uniform() * 20).rounded() }
            let sorted = values.sorted(by: >)
            for r in Set([0, n / 3, n / 2, n - 1]) {
                var v = values
                #expect(Pruning.select(&v, n - 1 - r) == sorted[r])
            }
        }
        // 1,000 vectors of 2 with weights (1, 4): the 50 largest weighted norms are always kept; the other 50 stand
        // for the remaining 950 each 19 times.
        let x = (0..<2000).map { _ in rng.uniform() - 0.5 }, wt = (0..<2000).map { $0 % 2 == 0 ? 1.0 : 4 }
        let norms: [Double] = (0..<1000).map { (i: Int) -> Double in
            let (a, b) = (x[2 * i], x[2 * i + 1])
            return a * a + 4 * b * b
        }
        let largest = Set((0..<1000).sorted { norms[$0] > norms[$1] }.prefix(50))
        var a = RandomGenerator(seed: 1), b = RandomGenerator(seed: 1)
        let s = VPTQ.stratifiedSample(x, wt, dim: 2, size: 100, rng: &a)
        #expect(s.keep == VPTQ.stratifiedSample(x, wt, dim: 2, size: 100, rng: &b).keep)
        #expect(s.keep.count == 100 && s.keep == s.keep.sorted() && largest.isSubset(of: s.keep))
        #expect(zip(s.keep, s.multiplicity).allSatisfy { largest.contains($0.0) ? $0.1 == 1 : $0.1 == 19 })
        #expect(abs(s.multiplicity.reduce(0, +) - 1000) < 1e-9)
        // A sample of one is a draw (no largest half); NaN norms are never among the largest.
        var c = RandomGenerator(seed: 2)
        #expect(VPTQ.stratifiedSample(x, wt, dim: 2, size: 1, rng: &c).keep.count == 1)
        var nanX = x
        nanX[0] = .nan
        let t = VPTQ.stratifiedSample(nanX, wt, dim: 2, size: 100, rng: &c)
        #expect(t.keep.count == 100 && abs(t.multiplicity.reduce(0, +) - 1000) < 1e-9)
    }
}
