import Compression
import Foundation
import OrderedCollections
import SqueezeCore

extension Builtins {
    static let pruning: [Operation] = [
        Operation(
            "prune", family: "compression",
            summary: "Prune weights: magnitude (unstructured), N:M patterns, Wanda's |W|·‖X‖ per row, or SparseGPT's OBS update.",
            doc:
                """
                    sparsity: s removes the weights with |w| ≤ the ⌊s·n⌋-th smallest |w| (the Wanda repository's magnitude baseline). \
                    pattern: \"2:4\" keeps the N largest of every M consecutive weights in each row (with method: \"wanda\", by Wanda's \
                    score). method: \"wanda\" with X (tokens × in) scores |W_ij|·‖X_j‖₂ and removes ⌊s·in⌋ per output row (Sun et al. \
                    2023). method: \"sparsegpt\" with X (Frantar & Alistarh 2023, the reference's fasterprune): H = 2/N·XᵀX with \
                    1% damping, U = upper Cholesky of H⁻¹; per block of 128 columns the mask removes w²/U_cc² ≤ its ⌊s·count⌋-th \
                    smallest value in the block (N:M: the M − N smallest of each group of M in each row), and each column's error \
                    (w − q)/U_ii is spread over the later columns, so the kept weights compensate. bits: b quantizes the kept weights \
                    jointly (one grid per row, or per `group`), as SparseGPT's --wbits. The mask is a part of the value and counted in \
                    .bits.
                    """,
            example: "W = randn(4, 8, seed: 2)\np = prune(W, pattern: \"2:4\")\nprint(sum(p.mask), p.bits_per_param)",
            params: [
                ParamSpec("W", .tensor),
                ParamSpec("sparsity", .number, .none, range: 0...1, namedOnly: true, doc: "Fraction of weights removed."),
                ParamSpec("pattern", .string, .none, namedOnly: true, doc: "\"N:M\": keep N of every M along rows."),
                ParamSpec("method", .choice(["magnitude", "wanda", "sparsegpt"]), .value(.string("magnitude")), namedOnly: true),
                ParamSpec(
                    "X", .tensor, .none, namedOnly: true, doc: "Calibration activations (tokens × in).",
                    methods: ["wanda", "sparsegpt"]),
                ParamSpec(
                    "bits", .integer, .none, range: 1...16, namedOnly: true, doc: "Quantize the kept weights jointly to this many bits.",
                    methods: ["sparsegpt"]),
                ParamSpec(
                    "group", .integer, .none, range: 1...1_000_000_000, namedOnly: true, doc: "Weights per grid along a row (with bits).",
                    methods: ["sparsegpt"]),
                ParamSpec("symmetric", .bool, .value(.bool(false)), namedOnly: true, methods: ["sparsegpt"]),
            ]
        ) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            let X = try args.optionalTensor("X")
            if let X { try checkFinite(X, args, "X") }
            if try args.string("method") == "sparsegpt" { return try sparseGPT(W, args, interp) }
            for p in ["bits", "group"] where !args.isNone(p) {
                throw args.error(p, "\(p): applies to method: \"sparsegpt\" (joint pruning and quantization)")
            }
            let method = Compressed.PruneMethod(rawValue: try args.string("method"))!
            let pattern = try prunePattern(args)
            let sparsity = try args.optionalNumber("sparsity")
            if pattern == nil, sparsity == nil, method == .magnitude || X != nil {
                throw args.error("give sparsity: s or pattern: \"N:M\"")
            }
            return compressed(try Compressed.pruned(W, method: method, sparsity: sparsity, pattern: pattern, X: X))
        }
    ]

    /// pattern: "N:M" when given.
    static func prunePattern(_ args: Arguments) throws -> (n: Int, m: Int)? {
        guard !args.isNone("pattern") else { return nil }
        let p = try args.string("pattern").split(separator: ":").compactMap { Int($0) }
        guard p.count == 2 else { throw args.error("pattern", "pattern must be \"N:M\", like \"2:4\"") }
        guard p[0] >= 0, p[1] >= 1, p[0] <= p[1] else { throw args.error("pattern", "N:M needs 0 ≤ N ≤ M, got \(p[0]):\(p[1])") }
        return (p[0], p[1])
    }

    static func sparseGPT(_ W: Tensor, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let X = try layerInputs(W, args, "sparsegpt")
        let pattern = try prunePattern(args), sparsity = try args.optionalNumber("sparsity")
        guard (pattern == nil) != (sparsity == nil) else { throw args.error("give one of sparsity: s or pattern: \"N:M\"") }
        if let pattern, W.shape[1] % pattern.m != 0 || 128 % pattern.m != 0 {
            throw args.error("pattern", "M = \(pattern.m) must divide the \(W.shape[1]) columns and SparseGPT's block of 128")
        }
        return compressed(
            try Compressed.sparseGPT(
                W, X: X, sparsity: sparsity, pattern: pattern, bits: try args.optionalInt("bits"), group: try args.optionalInt("group"),
                symmetric: try args.bool("symmetric"), scaleBits: 16, cancellation: interp.cancellation))
    }
}
