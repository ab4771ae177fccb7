import SqueezeCore
import Testing

@Suite struct ParallelTests {
    @Test func forEachCoversEveryIndexOnce() {
        for n in [0, 1, 1023, 1024, 100_000] {
            var hits = [UInt8](repeating: 0, count: n)
            hits.withUnsafeMutableBufferPointer { h in
                nonisolated(unsafe) let h = h
                Parallel.forEach(n, grain: 100) { r in for i in r { h[i] += 1 } }
            }
            #expect(hits.allSatisfy { $0 == 1 })
        }
    }

    @Test func cancellationTokenThrows() throws {
        let t = CancellationToken()
        try t.check()
        t.cancel()
        #expect(throws: CoreError.cancelled) { try t.check() }
        t.reset()
        try t.check()
    }

    @Test func blasReportsConfiguration() {
        #expect(BLAS.config.contains("OpenBLAS"))
        #expect(BLAS.threads >= 1)
    }
}
