import Compression
import Foundation
import SqueezeCore

/// Per-layer compression levels (EvoPress, Sieberling et al. 2024; Hubara et al. 2021): a database
/// holds every linear layer compressed at every level once; a configuration picks one level per
/// layer and assembles the model from the stored weights.
public struct LevelDatabase: Sendable {
    public let base: LanguageModel
    public let layers: [String]
    /// How each level was described (the recipe's choices, as text).
    public let choices: [String]
    /// weights[l][c]: layer l's weight at level c; bits[l][c] its storage.
    public let weights: [[Tensor]]
    public let bits: [[Double]]

    public init(base: LanguageModel, layers: [String], choices: [String], weights: [[Tensor]], bits: [[Double]]) throws {
        guard layers.count == weights.count, layers.count == bits.count, !choices.isEmpty,
            weights.allSatisfy({ $0.count == choices.count }), bits.allSatisfy({ $0.count == choices.count })
        else { throw ModelError("a level database needs one weight and one bit count per layer and level") }
        for (l, name) in layers.enumerated() {
            guard let W = base.weight(name) else { throw ModelError("\(base.name) has no linear layer \(name)") }
            for t in weights[l] where t.shape != W.shape {
                throw ModelError("a level of \(name) has shape \(Shape.describe(t.shape)), the layer \(Shape.describe(W.shape))")
            }
        }
        self.base = base
        self.layers = layers
        self.choices = choices
        self.weights = weights
        self.bits = bits
    }

    /// Parameters of each layer.
    public var parameters: [Int] { layers.map { base.weight($0)!.count } }

    /// Storage of a configuration, in bits.
    public func bits(of levels: [Int]) -> Double { zip(bits, levels).reduce(0) { $0 + $1.0[$1.1] } }

    /// The model whose layer l is stored at level levels[l].
    public func assemble(_ levels: [Int]) throws -> LanguageModel {
        guard levels.count == layers.count, levels.allSatisfy({ $0 >= 0 && $0 < choices.count }) else {
            throw ModelError("a configuration needs one level 0…\(choices.count - 1) for each of the \(layers.count) layers")
        }
        var m = base
        for (l, name) in layers.enumerated() { m = try m.replacing(name, with: weights[l][levels[l]], bits: bits[l][levels[l]]) }
        return m
    }

    /// Layers that can trade levels while keeping the total storage: the same bit counts at every level.
    public var shapeClasses: [[Int]] {
        var classes: [[Double]: [Int]] = [:], order: [[Double]] = []
        for (l, b) in bits.enumerated() {
            if classes[b] == nil { order.append(b) }
            classes[b, default: []].append(l)
        }
        return order.map { classes[$0]! }
    }
}
