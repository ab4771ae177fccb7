import Foundation
import Recipe
import SqueezeCore
import Testing

/// train(…, workers:, compressor:) against plain training and hand counts.
@Suite struct SimulatedParallelTests {
    static let setup = """
        data = {X: randn(96, 5, seed: 1), y: arange(0, 96) % 3}
        loss = fn(p, X, y) { return cross_entropy(mlp(p, X), y) }
        p0 = mlp_init([5, 8, 3], seed: 2)
        """

    static func global(_ text: String, _ name: String) throws -> Value {
        let (interp, error) = TrainLoopTests.run(setup + "\n" + text)
        if let error { Issue.record("\(error)") }
        return try #require(interp.global(name))
    }

    static func tensors(_ v: Value) -> [Float] {
        switch v {
        case .tensor(let t): return t.storage
        case .record(let r): return r.fields.values.flatMap(tensors)
        case .list(let l): return l.flatMap(tensors)
        default: return []
        }
    }

    static func field(_ v: Value, _ path: String...) -> Value? {
        var cur: Value? = v
        for k in path { if case .record(let r)? = cur { cur = r[k] } else { return nil } }
        return cur
    }

    @Test func oneWorkerWithoutCompressionIsPlainTraining() throws {
        let plain = try Self.global("r = train(p0, loss, data, optimizer: sgd(lr: 0.1, momentum: 0.9), epochs: 2, batch: 16, seed: 3)", "r")
        let one = try Self.global(
            "r = train(p0, loss, data, optimizer: sgd(lr: 0.1, momentum: 0.9), epochs: 2, batch: 16, seed: 3, workers: 1)", "r")
        #expect(Self.tensors(Self.field(plain, "params")!) == Self.tensors(Self.field(one, "params")!))
        #expect(Self.tensors(Self.field(plain, "history", "loss")!) == Self.tensors(Self.field(one, "history", "loss")!))
        // One worker sends and receives the dense gradient: 32 bits per parameter per step, each way.
        let params = Self.tensors(Self.field(plain, "params")!).count
        #expect(Self.field(one, "communication", "bits_up")?.asNumber == Double(12 * 32 * params))
        #expect(Self.field(one, "communication", "bits_down")?.asNumber == Double(12 * 32 * params))
    }

    @Test func fourWorkersAverageToTheBatchGradient() throws {
        // Equal shards: the weighted mean of the workers' mean gradients is the batch's mean gradient.
        let plain = try Self.global("r = train(p0, loss, data, optimizer: sgd(lr: 0.1), epochs: 1, batch: 32, seed: 3)", "r")
        let four = try Self.global("r = train(p0, loss, data, optimizer: sgd(lr: 0.1), epochs: 1, batch: 32, seed: 3, workers: 4)", "r")
        let a = Self.tensors(Self.field(plain, "params")!), b = Self.tensors(Self.field(four, "params")!)
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-5 * max(1, abs(x))) }
        let la = Self.tensors(Self.field(plain, "history", "loss")!), lb = Self.tensors(Self.field(four, "history", "loss")!)
        for (x, y) in zip(la, lb) { #expect(abs(x - y) <= 1e-5 * max(1, abs(x))) }
    }

    @Test func topKBitsByHand() throws {
        // 4 workers, top-10%: per step each worker sends ⌈0.1·d⌉ values (32 bits) and indices (⌈log₂ d⌉ bits) per tensor.
        let r = try Self.global(
            "r = train(p0, loss, data, optimizer: sgd(lr: 0.1), epochs: 1, batch: 32, seed: 3, workers: 4, compressor: {method: \"topk\", ratio: 0.1})",
            "r")
        // Tensors: W 5×8 (40), b 8, W 8×3 (24), b 3.
        // ⌈0.1·d⌉ entries × (32 + ⌈log₂ d⌉): 4 × (32 + 6), 1 × (32 + 3), 3 × (32 + 5), 1 × (32 + 2).
        let perWorker = 4 * 38 + 35 + 3 * 37 + 34
        let expected = Double(3 * 4 * perWorker)
        #expect(Self.field(r, "communication", "bits_up")?.asNumber == expected)
    }

    @Test func labelShardsGiveEachWorkerItsOwnClasses() throws {
        // With by_label and one worker per class, each worker's loss only sees its class; training still runs and counts bits.
        let r = try Self.global(
            "r = train(p0, loss, data, optimizer: sgd(lr: 0.1), epochs: 1, batch: 30, seed: 3, workers: 3, shards: \"by_label\", compressor: {method: \"sign\"})",
            "r")
        #expect(Self.field(r, "steps")?.asNumber == 4)
        // sign: 1 bit per element + one 32-bit scale per tensor, per worker per step: 4 tensors, 75 parameters.
        #expect(Self.field(r, "communication", "bits_up")?.asNumber == Double(4 * 3 * (75 + 4 * 32)))
    }
}
