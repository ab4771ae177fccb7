import SqueezeCore

/// What both models count the same way: every tensor by name, the linear layers where compression
/// happens, and the bits a compressed layer was stored in.
public protocol WeightedModel {
    var weights: [String: Tensor] { get }
    /// Tensor names in the file's order.
    var names: [String] { get }
    var linearLayers: [String] { get }
    /// Storage of each linear layer's weight in bits, when it was replaced by a compressed value.
    var compressedBits: [String: Double] { get }
}

extension WeightedModel {
    public var parameterCount: Int { names.reduce(0) { $0 + (weights[$1]?.count ?? 0) } }

    public var linearParameterCount: Int { linearLayers.reduce(0) { $0 + (weights[$1 + ".weight"]?.count ?? 0) } }

    /// Storage of the whole model in bits: compressed linear weights at their counted bits, every
    /// other tensor at 32 bits.
    public var bits: Double {
        names.reduce(0.0) { acc, n in
            let base = n.hasSuffix(".weight") ? String(n.dropLast(7)) : n
            if let b = compressedBits[base], n.hasSuffix(".weight") { return acc + b }
            return acc + Double(32 * (weights[n]?.count ?? 0))
        }
    }

    /// Storage of the linear layers alone (where compression happens), in bits.
    public var linearBits: Double {
        linearLayers.reduce(0.0) { $0 + (compressedBits[$1] ?? Double(32 * (weights[$1 + ".weight"]?.count ?? 0))) }
    }

    /// Why `W` cannot replace linear layer `layer`'s weight (no such layer, or another shape); nil when it can.
    public func replacementError(_ layer: String, _ W: Tensor) -> ModelError? {
        guard let old = weights[layer + ".weight"], linearLayers.contains(layer) else {
            return ModelError("no linear layer named \(layer)")
        }
        guard old.shape == W.shape else {
            return ModelError(
                "\(layer): the replacement has shape \(Shape.describe(W.shape)), the layer's weight is \(Shape.describe(old.shape))")
        }
        return nil
    }
}
