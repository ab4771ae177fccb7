import Foundation
import SqueezeCore

/// First-order optimizers over a list of parameter tensors, with PyTorch's update rules and the same
/// order of floating-point operations (so a trajectory can be compared step by step):
/// - SGD: g ← g + λp; b ← μb + g (b = g at the first step); g ← g + μb (Nesterov) or b; p ← p − ηg.
/// - Adam / AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019): p ← p(1 − ηλ) when decoupled, else
///   g ← g + λp; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − (η/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε).
/// - LAMB (You et al. 2020): r = m̂/(√v̂ + ε) + λp; p ← p − η·(‖p‖/‖r‖)·r (ratio 1 when either norm is 0).
public struct Optimizer: Sendable, Equatable {
    public enum Kind: String, Sendable { case sgd, adam, lamb }

    public var kind: Kind
    public var momentum: Double = 0
    public var nesterov = false
    public var weightDecay: Double = 0
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    /// AdamW's decay of the weights themselves rather than through the gradient.
    public var decoupled = true

    public init(_ kind: Kind) { self.kind = kind }

    /// What the optimizer keeps between steps: the step count and one or two tensors per parameter
    /// (SGD's momentum buffer; Adam's and LAMB's first and second moments).
    public struct State: Sendable, Equatable {
        public var step: Int
        public var slots: [[Tensor]]

        public init(step: Int, slots: [[Tensor]]) {
            self.step = step
            self.slots = slots
        }
    }

    /// Slot names in `State.slots` order.
    public var slotNames: [String] {
        switch kind {
        case .sgd: return momentum > 0 ? ["momentum"] : []
        case .adam, .lamb: return ["m", "v"]
        }
    }

    public func initialState(_ params: [Tensor]) -> State {
        State(step: 0, slots: slotNames.map { _ in params.map { Tensor.zeros($0.shape) } })
    }

    /// One update with learning rate `lr`; `state` advances by one step.
    public func step(_ params: inout [Tensor], _ grads: [Tensor], _ state: inout State, lr: Double) throws {
        guard grads.count == params.count, zip(params, grads).allSatisfy({ $0.shape == $1.shape }) else {
            throw CoreError.invalidArgument("the gradients do not have the parameters' structure and shapes")
        }
        guard state.slots.count == slotNames.count, state.slots.allSatisfy({ $0.count == params.count }) else {
            throw CoreError.invalidArgument("the optimizer state does not match the parameters (made by another optimizer's init?)")
        }
        state.step += 1
        let t = state.step
        for k in 0..<params.count {
            switch kind {
            case .sgd: sgd(&params[k], grads[k], &state, k, lr: Float(lr), first: t == 1)
            case .adam, .lamb: adam(&params[k], grads[k], &state, k, lr: lr, t: t)
            }
        }
    }

    private func sgd(_ p: inout Tensor, _ g: Tensor, _ state: inout State, _ k: Int, lr: Float, first: Bool) {
        let wd = Float(weightDecay), mu = Float(momentum), nesterov = self.nesterov
        let hasMomentum = momentum > 0
        var buf = hasMomentum ? state.slots[0][k] : Tensor.zeros([0])
        if hasMomentum { state.slots[0][k] = Tensor.zeros([0]) }  // unique, so updated in place
        p.withMutableBuffer { ps in
            g.withBuffer { gs in
                buf.withMutableBuffer { bs in
                    for i in 0..<ps.count {
                        var d = gs[i]
                        if wd != 0 { d += wd * ps[i] }
                        if hasMomentum {
                            bs[i] = first ? d : mu * bs[i] + d
                            d = nesterov ? d + mu * bs[i] : bs[i]
                        }
                        ps[i] -= lr * d
                    }
                }
            }
        }
        if hasMomentum { state.slots[0][k] = buf }
    }

    private func adam(_ p: inout Tensor, _ g: Tensor, _ state: inout State, _ k: Int, lr: Double, t: Int) {
        let b1 = Float(beta1), b2 = Float(beta2), eps = Float(eps), wd = Float(weightDecay)
        let bc1 = 1 - Foundation.pow(beta1, Double(t)), bc2 = 1 - Foundation.pow(beta2, Double(t))
        let stepSize = Float(lr / bc1), bc2Root = Float(bc2.squareRoot())
        var m = state.slots[0][k], v = state.slots[1][k]
        state.slots[0][k] = Tensor.zeros([0])
        state.slots[1][k] = Tensor.zeros([0])
        let lamb = kind == .lamb, decoupled = self.decoupled
        var update = lamb ? Tensor.zeros(p.shape) : Tensor.zeros([0])
        p.withMutableBuffer { ps in
            g.withBuffer { gs in
                m.withMutableBuffer { ms in
                    v.withMutableBuffer { vs in
                        update.withMutableBuffer { us in
                            for i in 0..<ps.count {
                                var d = gs[i]
                                if !lamb && wd != 0 {
                                    if decoupled { ps[i] *= 1 - Float(lr) * wd } else { d += wd * ps[i] }
                                }
                                ms[i] += (1 - b1) * (d - ms[i])  // PyTorch's lerp
                                vs[i] = b2 * vs[i] + (1 - b2) * d * d
                                if lamb {
                                    us[i] = (ms[i] / Float(bc1)) / ((vs[i] / Float(bc2)).squareRoot() + eps) + wd * ps[i]
                                } else {
                                    ps[i] -= stepSize * ms[i] / (vs[i].squareRoot() / bc2Root + eps)
                                }
                            }
                        }
                    }
                }
            }
        }
        if lamb {
            let pn = p.sumOfSquares().squareRoot(), un = update.sumOfSquares().squareRoot()
            let ratio = Float(pn > 0 && un > 0 ? pn / un : 1)
            p.withMutableBuffer { ps in update.withBuffer { us in for i in 0..<ps.count { ps[i] -= Float(lr) * ratio * us[i] } } }
        }
        state.slots[0][k] = m
        state.slots[1][k] = v
    }
}

/// A learning rate as a function of the step (0 for the first update).
public enum Schedule: Sendable, Equatable {
    /// Linear warm-up over `warmup` steps, then half a cosine from `base` to `final` at `steps`
    /// (Loshchilov & Hutter's SGDR without restarts), constant after.
    case cosine(base: Double, steps: Int, final: Double, warmup: Int)
    /// `base · min(1, (t + 1)/warmup)`.
    case linearWarmup(base: Double, warmup: Int)
    /// `base · γ^⌊t/every⌋` (PyTorch's StepLR).
    case step(base: Double, every: Int, gamma: Double)

    public func rate(at t: Int) -> Double {
        switch self {
        case let .cosine(base, steps, final, warmup):
            if t < warmup { return base * Double(t + 1) / Double(warmup) }
            let span = max(steps - warmup, 1)
            let progress = Double(min(t - warmup, span)) / Double(span)
            return final + (base - final) * (1 + cos(Double.pi * progress)) / 2
        case let .linearWarmup(base, warmup):
            return base * min(1, Double(t + 1) / Double(max(warmup, 1)))
        case let .step(base, every, gamma):
            return base * Foundation.pow(gamma, Double(t / max(every, 1)))
        }
    }
}
