import Foundation
import SqueezeCore

// The squeeze side of `Scripts/bench`: times one kernel of the core (release build) and prints
// `seconds quality` on one line. The harness alternates it with the peer and computes ratios.

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = ContinuousClock.now
    try body()
    return (ContinuousClock.now - t0).seconds
}

func randomMatrix(_ m: Int, _ n: Int, seed: UInt64) -> Tensor {
    var g = RandomGenerator(seed: seed)
    return Tensor.randn([m, n], using: &g)
}

let args = CommandLine.arguments.dropFirst()
guard let name = args.first else {
    print("usage: squeeze-bench sgemm|svd|gemm-loop [n]")
    exit(64)
}
let n = args.dropFirst().first.flatMap { Int($0) }

do {
    switch name {
    case "sgemm":
        // Best of 3 multiplications of two n×n matrices; quality = checksum of C.
        let size = n ?? 2048
        let a = randomMatrix(size, size, seed: 1), b = randomMatrix(size, size, seed: 2)
        var best = Double.infinity
        var c = Tensor.zeros([0])
        for _ in 0..<3 { best = min(best, try seconds { c = try Tensor.gemm(a, b) }) }
        print(best, c.sum() / Double(c.count))
    case "svd":
        let size = n ?? 1000
        let a = randomMatrix(size, size, seed: 3)
        var best = Double.infinity
        var s = Tensor.zeros([0])
        for _ in 0..<3 { best = min(best, try seconds { s = try a.svd().S }) }
        print(best, s.storage.first ?? 0)
    case "gemm-loop":
        // The same work as Benchmarks' tensor-heavy recipe: 20 products of 1024² matrices.
        let size = n ?? 1024
        let a = randomMatrix(size, size, seed: 1), b = randomMatrix(size, size, seed: 2)
        var acc = 0.0
        let t = try seconds { for _ in 0..<20 { acc += try Tensor.gemm(a, b).storage[0] == 0 ? 1 : 0 } }
        print(t, acc)
    default:
        print("unknown benchmark \(name)")
        exit(64)
    }
} catch {
    print("error: \(error)")
    exit(70)
}
