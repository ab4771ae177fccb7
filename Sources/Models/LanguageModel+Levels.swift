import Compression
import Foundation
import SqueezeCore

/// Per-layer compression levels (EvoPress, Sieberling et al. 2024; Hubara et al. 2021): a database
/// holds every linear layer compressed at every level once; a configuration picks one level per
/// unit — a layer, or every layer of a block — and assembles the model from the stored weights.
/// With per-block units a level may drop the block (EvoPress's depth pruning as one more level).
public struct LevelDatabase: Sendable {
    public enum Granularity: String, Sendable, CaseIterable { case layer, block }

    /// What a configuration chooses one level for: one layer, or the layers of one block.
    public struct Unit: Sendable, Equatable {
        public let name: String
        /// Indices into `layers`.
        public let layers: [Int]
        public let block: Int
    }

    public let base: LanguageModel
    public let layers: [String]
    /// How each level was described (the recipe's choices, as text).
    public let choices: [String]
    /// weights[l][c]: layer l's weight at level c; bits[l][c] its storage.
    public let weights: [[Tensor]]
    public let bits: [[Double]]
    public let granularity: Granularity
    public let units: [Unit]
    /// The level that drops a block (per-block units only): its layers then store nothing.
    public let drop: Int?
    /// unitBits[u][c]: the storage of unit u's layers at level c.
    public let unitBits: [[Double]]

    public init(
        base: LanguageModel, layers: [String], choices: [String], weights: [[Tensor]], bits: [[Double]],
        granularity: Granularity = .layer, drop: Int? = nil
    ) throws {
        guard layers.count == weights.count, layers.count == bits.count, !choices.isEmpty,
            weights.allSatisfy({ $0.count == choices.count }), bits.allSatisfy({ $0.count == choices.count })
        else { throw ModelError("a level database needs one weight and one bit count per layer and level") }
        var blocks: [Int] = []
        for (l, name) in layers.enumerated() {
            guard let W = base.weight(name), let parsed = LanguageModel.parse(layer: name) else {
                throw ModelError("\(base.name) has no linear layer \(name)")
            }
            for t in weights[l] where t.shape != W.shape {
                throw ModelError("a level of \(name) has shape \(Shape.describe(t.shape)), the layer \(Shape.describe(W.shape))")
            }
            blocks.append(parsed.block)
        }
        var units: [Unit] = []
        switch granularity {
        case .layer:
            guard drop == nil else { throw ModelError("dropping is a level of whole blocks: build the database with per: \"block\"") }
            units = layers.enumerated().map { Unit(name: $1, layers: [$0], block: blocks[$0]) }
        case .block:
            for b in Array(Set(blocks)).sorted() {
                let members = blocks.indices.filter { blocks[$0] == b }
                if drop != nil, members.count != LanguageModel.roles.count {
                    throw ModelError(
                        "dropping blk.\(b) needs its \(LanguageModel.roles.count) linear layers in the database; it has \(members.count)"
                    )
                }
                units.append(Unit(name: "blk.\(b)", layers: members, block: b))
            }
        }
        if let drop { guard choices.indices.contains(drop) else { throw ModelError("the drop level is not one of the choices") } }
        self.base = base
        self.layers = layers
        self.choices = choices
        self.weights = weights
        self.bits = bits
        self.granularity = granularity
        self.units = units
        self.drop = drop
        unitBits = units.map { u in choices.indices.map { c in c == drop ? 0 : u.layers.reduce(0.0) { $0 + bits[$1][c] } } }
    }

    /// Parameters of each unit.
    public var parameters: [Int] { units.map { $0.layers.reduce(0) { $0 + base.weight(layers[$1])!.count } } }

    /// Storage of a configuration (one level per unit), in bits.
    public func bits(of levels: [Int]) -> Double { zip(unitBits, levels).reduce(0) { $0 + $1.0[$1.1] } }

    /// The model whose unit u is stored at level levels[u].
    public func assemble(_ levels: [Int]) throws -> LanguageModel {
        guard levels.count == units.count, levels.allSatisfy({ $0 >= 0 && $0 < choices.count }) else {
            throw ModelError("a configuration needs one level 0…\(choices.count - 1) for each of the \(units.count) units")
        }
        var m = base
        for (u, c) in zip(units.indices, levels) { m = try setting(u, to: c, in: m) }
        return m
    }

    /// `m` with unit u at level c (its layers replaced, or its block dropped).
    func setting(_ u: Int, to c: Int, in m: LanguageModel) throws -> LanguageModel {
        if c == drop { return try m.dropping(block: units[u].block) }
        var m = m
        for l in units[u].layers { m = try m.replacing(layers[l], with: weights[l][c], bits: bits[l][c]) }
        return m
    }

    /// Units that can trade levels while keeping the total storage: the same bit counts at every level.
    public var shapeClasses: [[Int]] {
        var classes: [[Double]: [Int]] = [:], order: [[Double]] = []
        for (u, b) in unitBits.enumerated() {
            if classes[b] == nil { order.append(b) }
            classes[b, default: []].append(u)
        }
        return order.map { classes[$0]! }
    }

    /// Total storage of the uniform configuration at level c.
    public func uniformBits(_ c: Int) -> Double { unitBits.reduce(0.0) { $0 + $1[c] } }
}
