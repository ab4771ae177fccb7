import Foundation
import SqueezeCore

/// 1-bit Adam (Tang et al. 2021; DeepSpeed's `OnebitAdam`): plain Adam with full-precision gradient
/// averaging for the first `freezeStep` steps; after them the variance v is frozen and only the momentum
/// is communicated, 1 bit per element: each worker updates its momentum with its own gradient,
/// mᵢ = β₁m + (1−β₁)gᵢ, and the workers' momenta are averaged by a two-stage compressed all-reduce with
/// error feedback on the workers and on the servers (each server owns one chunk). As DeepSpeed's code:
/// no bias correction; update = m/(√v + ε) + λp; p ← p − η·update; an optional mask zeroes momentum
/// entries that must stay zero (1 bit cannot send 0).
public struct OneBitAdam: Sendable, Equatable {
    public var beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.0
    public var freezeStep: Int

    public init(freezeStep: Int) { self.freezeStep = freezeStep }

    public struct State: Sendable, Equatable {
        public var step = 0
        public var m: [[Float]], v: [[Float]]
        /// Per worker, per tensor: the worker's error (padded length); per tensor: the servers' errors.
        public var workerError: [[[Float]]]
        public var serverError: [[Float]]
        /// Per tensor: 1 where the momentum may be non-zero (empty: no mask).
        public var mask: [[Float]]

        public init(counts: [Int], workers: Int) {
            m = counts.map { [Float](repeating: 0, count: $0) }
            v = m
            let padded = counts.map { OneBitAdam.padded($0, workers: workers) }
            workerError = Array(repeating: padded.map { [Float](repeating: 0, count: $0) }, count: workers)
            serverError = padded.map { [Float](repeating: 0, count: $0) }
            mask = []
        }
    }

    /// DeepSpeed pads each tensor to a multiple of W·lcm(W, 8) so every server chunk packs whole bytes.
    public static func padded(_ count: Int, workers w: Int) -> Int {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let unit = w * (w * 8 / gcd(w, 8))
        return (count + unit - 1) / unit * unit
    }

    /// Whether step `t` (1-based) is compressed.
    public func compresses(step t: Int) -> Bool { t > freezeStep }

    /// One step from each worker's gradient; returns the bits sent up (all workers) and down (all receivers).
    public func step(
        _ params: inout [[Float]], _ grads: [[[Float]]], weights: [Float], _ state: inout State, lr: Double, autoMask: Bool = false
    ) -> (up: MessageBits, down: Int) {
        let workers = grads.count
        state.step += 1
        let b1 = Float(beta1), b2 = Float(beta2)
        var up = MessageBits(), down = 0
        if !compresses(step: state.step) {
            for l in 0..<params.count {
                var g = [Float](repeating: 0, count: params[l].count)
                for w in 0..<workers { axpy(weights[w], grads[w][l], &g) }
                for i in 0..<g.count {
                    state.m[l][i] = b1 * state.m[l][i] + (1 - b1) * g[i]
                    state.v[l][i] = b2 * state.v[l][i] + (1 - b2) * g[i] * g[i]
                }
                up.dense += workers * 32 * g.count
                down += workers * 32 * g.count
            }
            if autoMask && state.step == freezeStep {
                // Entries whose gradient was zero at every warm-up step have v = 0: their momentum stays 0.
                state.mask = state.v.map { $0.map { $0 == 0 ? 0 : 1 } }
            }
        } else {
            for l in 0..<params.count {
                let d = params[l].count
                let local = (0..<workers).map { w in (0..<d).map { i in b1 * state.m[l][i] + (1 - b1) * grads[w][l][i] } }
                if workers == 1 {
                    state.m[l] = local[0]  // nothing to communicate
                } else {
                    let (avg, bitsUp, bitsDown) = Self.compressedAllReduce(
                        local, weights: weights, workerError: &state.workerError, serverError: &state.serverError[l], tensor: l)
                    state.m[l] = avg
                    up.signs += bitsUp.signs
                    up.scales += bitsUp.scales
                    down += bitsDown
                }
                if !state.mask.isEmpty { for i in 0..<d { state.m[l][i] *= state.mask[l][i] } }
            }
        }
        let eps = Float(self.eps), wd = Float(weightDecay), rate = Float(lr)
        for l in 0..<params.count {
            for i in 0..<params[l].count {
                var u = state.m[l][i] / (state.v[l][i].squareRoot() + eps)
                if wd > 0 { u += wd * params[l][i] }
                params[l][i] -= rate * u
            }
        }
        return (up, down)
    }

    /// DeepSpeed's `compressed_allreduce`: worker i sends sign(xᵢ)·‖xᵢ‖/√D of xᵢ = mᵢ + errorᵢ (0 counts
    /// as +), keeping the rest as its error; the server of each chunk averages the workers' chunks, adds
    /// its own error, and sends that back as signs with one scale. Returns the average (unpadded).
    public static func compressedAllReduce(
        _ momenta: [[Float]], weights: [Float], workerError: inout [[[Float]]], serverError: inout [Float], tensor l: Int
    ) -> ([Float], MessageBits, Int) {
        let workers = momenta.count, d = momenta[0].count
        let padded = serverError.count, chunk = padded / workers
        var sum = [Float](repeating: 0, count: padded)
        var up = MessageBits()
        for w in 0..<workers {
            var x = workerError[w][l]
            for i in 0..<d { x[i] += momenta[w][i] }
            let scale = Float(norm(x[...]) / Double(padded).squareRoot())
            for i in 0..<padded {
                let s: Float = x[i] >= 0 ? 1 : -1
                workerError[w][l][i] = x[i] - scale * s
                sum[i] += weights[w] * scale * s
            }
            up.signs += padded
            up.scales += 32
        }
        var out = [Float](repeating: 0, count: padded)
        for c in 0..<workers {
            let range = (c * chunk)..<((c + 1) * chunk)
            for i in range { sum[i] += serverError[i] }
            let scale = Float(norm(sum[range]) / Double(chunk).squareRoot())
            for i in range {
                let s: Float = sum[i] >= 0 ? 1 : -1
                serverError[i] = sum[i] - scale * s
                out[i] = scale * s
            }
        }
        let down = workers * (padded + 32 * workers)
        return (Array(out[0..<d]), up, down)
    }

    static func norm(_ x: ArraySlice<Float>) -> Double {
        var s: Float = 0
        for v in x { s += v * v }
        return Double(s.squareRoot())
    }
}
