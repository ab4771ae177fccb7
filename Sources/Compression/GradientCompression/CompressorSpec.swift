import Foundation
import SqueezeCore

/// How gradients are compressed before they are sent: the method, its parameters and the feedback rule.
public struct CompressorSpec: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable {
        case none, topk, randk, threshold, sign, qsgd, powersgd, dgc
    }

    /// What a worker does with what its message leaves out.
    public enum Feedback: Sendable, Equatable {
        /// Sends C(g); the rest is lost.
        case none
        /// Error feedback (Seide et al. 2014; Stich et al. 2018): p = g + e, send C(p), e ← p − D(C(p)).
        case ef
        /// EControl (Gao, Islamov & Stich, ICLR 2024, Algorithm 1): Δᵢ = C(η eᵢ + gᵢ − hᵢ);
        /// eᵢ ← eᵢ + gᵢ − hᵢ − Δᵢ; hᵢ ← hᵢ + Δᵢ; the step uses the mean of the updated hᵢ.
        case econtrol(eta: Double)
    }

    public var method: Method
    /// topk, randk, dgc: the fraction of entries sent.
    public var ratio: Double = 0.01
    /// threshold: entries with |x| ≥ this are sent.
    public var threshold: Double = 0
    /// sign: elements per scale (0: one scale per tensor).
    public var chunk: Int = 0
    /// qsgd: levels s and bucket size (0: one bucket per tensor).
    public var levels: Int = 4
    public var bucket: Int = 512
    /// powersgd: rank, exchanges sent uncompressed first, and the least compression rate worth it.
    public var rank: Int = 2
    public var startAfter: Int = 0
    public var minCompressionRate: Double = 2
    /// dgc: momentum of the velocity accumulation, Nesterov, per-worker clipping of the gradient norm
    /// (to clip/√W), warm-up epochs of the sparsity schedule, the sampled fraction for the threshold.
    public var momentum: Double = 0.9
    public var nesterov = false
    public var clip: Double? = nil
    public var warmupEpochs: Int = 0
    public var sampleRatio: Double = 0.01
    public var feedback: Feedback = .ef
    /// L-GreCo: candidate levels (ratios, ranks or qsgd levels) and the steps between re-solves (0: off).
    public var choices: [Double] = []
    public var every: Int = 0

    public init(_ method: Method) {
        self.method = method
    }

    /// Whether messages of different workers can be averaged in compressed form (PowerSGD's factors).
    public var isLinear: Bool { method == .powersgd }

    /// Whether the message is sparse (indices + values).
    public var isSparse: Bool { [.topk, .randk, .threshold, .dgc].contains(method) }

    /// The adaptive level per tensor's knob, read from `ratio`, `rank` or `levels`.
    public var uniformLevel: Double {
        switch method {
        case .powersgd: return Double(rank)
        case .qsgd: return Double(levels)
        default: return ratio
        }
    }

    /// DGC's compress ratio in `epoch` (0-based): base^((e+1)/(warmup+1)) during the warm-up, then base.
    public func dgcRatio(epoch: Int) -> Double {
        guard warmupEpochs > 0, epoch < warmupEpochs else { return ratio }
        let coeff = Foundation.pow(ratio, 1 / Double(warmupEpochs + 1))
        return max(Foundation.pow(coeff, Double(epoch + 1)), ratio)
    }

    /// Checks the parameters, naming the first that is out of range.
    public func validate() throws {
        func bad(_ name: String, _ what: String) -> CoreError { .invalidArgument("compressor \(method.rawValue): '\(name)' \(what)") }
        switch method {
        case .topk, .randk, .dgc:
            guard ratio > 0, ratio <= 1 else { throw bad("ratio", "must be in (0, 1], got \(ratio)") }
        case .threshold:
            guard threshold >= 0, threshold.isFinite else { throw bad("threshold", "must be a finite number ≥ 0") }
        case .sign:
            guard chunk >= 0 else { throw bad("chunk", "must be ≥ 0 (0: one scale per tensor)") }
        case .qsgd:
            guard levels >= 1 else { throw bad("levels", "must be ≥ 1, got \(levels)") }
            guard bucket >= 0 else { throw bad("bucket", "must be ≥ 0 (0: one bucket per tensor)") }
        case .powersgd:
            guard rank >= 1 else { throw bad("rank", "must be ≥ 1, got \(rank)") }
            guard startAfter >= 0 else { throw bad("start_after", "must be ≥ 0") }
        case .none: break
        }
        if case .econtrol(let eta) = feedback {
            guard eta > 0, eta <= 1 else { throw bad("eta", "must be in (0, 1], got \(eta)") }
            guard ![.powersgd, .dgc, .none].contains(method) else {
                throw bad("feedback", "'econtrol' needs a per-worker compressor (topk, randk, threshold, sign or qsgd)")
            }
        }
        if every > 0 {
            guard [.topk, .powersgd, .qsgd].contains(method) else {
                throw bad("choices", "L-GreCo chooses levels for topk (ratios), powersgd (ranks) or qsgd (levels)")
            }
            guard choices.count >= 2 else { throw bad("choices", "L-GreCo needs at least two candidate levels") }
            for c in choices {
                switch method {
                case .topk: guard c > 0, c <= 1 else { throw bad("choices", "ratios must be in (0, 1], got \(c)") }
                default: guard c >= 1, c == c.rounded() else { throw bad("choices", "must be whole numbers ≥ 1, got \(c)") }
                }
            }
        }
    }
}
