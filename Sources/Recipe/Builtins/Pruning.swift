import Compression
import Foundation
import OrderedCollections
import SqueezeCore

extension Builtins {
    static let pruning: [Operation] = [
        Operation(
            "prune", family: "compression",
            summary: "Prune weights: magnitude (unstructured), N:M patterns, or Wanda's |W|·‖X‖ per output row.",
            doc:
                """
                    sparsity: s removes the weights with |w| ≤ the ⌊s·n⌋-th smallest |w| (the Wanda repository's magnitude baseline). \
                    pattern: \"2:4\" keeps the N largest of every M consecutive weights in each row (with method: \"wanda\", by Wanda's \
                    score). method: \"wanda\" with X (tokens × in) scores |W_ij|·‖X_j‖₂ and removes ⌊s·in⌋ per output row (Sun et al. \
                    2023). The mask is a part of the value and counted in .bits.
                    """,
            example: "W = randn(4, 8, seed: 2)\np = prune(W, pattern: \"2:4\")\nprint(sum(p.mask), p.bits_per_param)",
            params: [
                ParamSpec("W", .tensor),
                ParamSpec("sparsity", .number, .none, range: 0...1, namedOnly: true, doc: "Fraction of weights removed."),
                ParamSpec("pattern", .string, .none, namedOnly: true, doc: "\"N:M\": keep N of every M along rows."),
                ParamSpec("method", .choice(["magnitude", "wanda"]), .value(.string("magnitude")), namedOnly: true),
                ParamSpec(
                    "X", .tensor, .none, namedOnly: true, doc: "Calibration activations (tokens × in).",
                    methods: ["wanda"]),
            ]
        ) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            let method = Compressed.PruneMethod(rawValue: try args.string("method"))!
            let X = try args.optionalTensor("X")
            if let X { try checkFinite(X, args, "X") }
            var pattern: (n: Int, m: Int)?
            if !args.isNone("pattern") {
                let p = try args.string("pattern").split(separator: ":").compactMap { Int($0) }
                guard p.count == 2 else { throw args.error("pattern", "pattern must be \"N:M\", like \"2:4\"") }
                guard p[0] >= 0, p[1] >= 1, p[0] <= p[1] else { throw args.error("pattern", "N:M needs 0 ≤ N ≤ M, got \(p[0]):\(p[1])") }
                pattern = (p[0], p[1])
            }
            let sparsity = try args.optionalNumber("sparsity")
            if pattern == nil, sparsity == nil, method == .magnitude || X != nil {
                throw args.error("give sparsity: s or pattern: \"N:M\"")
            }
            return compressed(try Compressed.pruned(W, method: method, sparsity: sparsity, pattern: pattern, X: X))
        }
    ]
}
