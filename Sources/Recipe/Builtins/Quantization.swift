import Compression
import Foundation
import OrderedCollections
import SqueezeCore

extension Builtins {
    static let quantization: [Operation] = [
        Operation(
            "quantize", family: "compression",
            summary: "Quantize weights: round-to-nearest (min/max or MSE clipping), NF4, or GPTQ with calibration data.",
            doc: """
                method: "kmeans" is non-uniform scalar quantization: 2^bits levels per row (axis: "row", SqueezeLLM's per-channel lookup \
                tables), per column or per tensor, fitted by exact 1-D Lloyd iterations (`iters`) from the quantiles; levels stored (and \
                used) at scale_bits. method: "vq" cuts rows into sub-vectors of `dim` values and snaps each to one shared k-means \
                codebook of `codes` entries; "rvq" fits `stages` such codebooks to successive residuals (SoundStream/EnCodec); "grvq" \
                splits the columns into `groups` blocks, each with its own `stages`-level RVQ (HiFi-Codec); "pq" gives each of the \
                cols/dim subspaces its own codebook over the rows (Jégou et al. 2011). Codebooks are counted at 32 bits per value, \
                indices at log₂ codes bits; each codebook is fitted on a random sample of at most 256·codes vectors (faiss's default), \
                then every vector takes its nearest code. RTN (GPTQ's quant.py): per group of `group` consecutive weights along each row \
                (axis: "row"; "col" groups down columns; "tensor" one grid), range [min(w, 0), max(w, 0)], asymmetric scale (max − \
                min)/(2^b − 1) and zero round(−min/scale), or symmetric scale 2·max|w|/(2^b − 1) and zero 2^(b−1); q = \
                clamp(round(w/scale) + zero, 0, 2^b − 1), ŵ = scale(q − zero), half to even. clip: "mse" searches shrunken ranges p = 1 − \
                i/100 (i < 80) minimising Σ|ŵ − w|^2.4. method: "nf4" maps blocks of `group` (default 64) weights scaled by their absmax \
                to QLoRA's 16 NormalFloat levels. method: "gptq" needs X (calibration rows × inputs): H = 2/N·XᵀX, 1% damping, \
                column-wise error propagation through the upper Cholesky factor of H⁻¹ in 128-column blocks (Frantar et al. 2023); with a \
                diagonal H it equals RTN; act_order: true processes the columns by descending H_ii with static group grids (same \
                storage). method: "awq" needs X (Lin et al. 2024, llm-awq): input-channel scales s = mean|x|^α/√(max·min), α \
                from a grid of 20 minimising the layer's output MSE of Q(W·diag(s))·diag(s)⁻¹, then (clip_search) each group \
                clipped to ±max|w|(1 − i/20), i < 10, by its partial output error; asymmetric grids over each group's own min/max; \
                the input scales are stored at 16 bits (awq(m, …) folds them into the model instead). Weights are [out, in] as in \
                PyTorch. method: "vptq" needs X (Liu et al. 2024): rows cut into vectors of `dim` inputs, a codebook of `codes` \
                entries by k-means weighted per coordinate by H_jj (iters Lloyd steps from `seed`; points_per_code > 0 fits \
                it on that many vectors per code: the half with the largest Σ h_d x_d² always, a uniform draw of the rest each \
                counted (rest / drawn) times), vectors chosen tile by tile \
                with GPTQ's error propagation (E_T = (W_T − Q_T)U_TT⁻¹), residual_codes a second codebook on the first pass's \
                errors, outliers a fraction of tiles with their own codebook; indices at log₂ codes bits, codebooks at 16. \
                method: "double_rounding" (arXiv 2502.01199) stores symmetric `from`-bit codes q = round(w/s), s = \
                max|w|/(2^(f−1) − 1) per group, and serves b bits by rounding them again with the tied scale s·2^(f−b): q_b = \
                clamp(round(q/2^(f−b))); rounding: "centered" rounds half up, q_b = ⌊q/2^(f−b) + ½⌋, and reads \
                w = s_b(q_b − 2^−(f−b+1)), the centre of the 2^(f−b) integers each code gathers (half-to-even gathers \
                2^(f−b) ± 1 alternately: 16% more error than direct at 6 of 8 bits); "direct" rounds the floats with their own scale \
                max|w|/(2^(b−1) − 1), "truncate" takes ⌊q/2^(f−b)⌋. Returns a compressed value with codes, scales and zeros.
                """,
            example:
                """
                W = randn(8, 256, seed: 1)\nq = quantize(W, bits: 4, group: 128)\nprint(round(q.bits_per_param, digits: 4), \
                round(error(W, q), digits: 4))
                """,
            params: [
                ParamSpec("W", .tensor),
                ParamSpec(
                    "bits", .integer, .value(.number(4)), range: 1...16, doc: "Bits per code.",
                    methods: ["rtn", "nf4", "gptq", "awq", "kmeans", "double_rounding"]),
                ParamSpec(
                    "group", .integer, .none, range: 1...1_000_000_000, namedOnly: true,
                    doc: "Weights per grid along a row (default: the whole row; 64 for nf4); when it does not divide the row "
                        + "the last group is shorter, as in GPTQ's reference.",
                    methods: ["rtn", "nf4", "gptq", "awq", "double_rounding"]),
                ParamSpec("symmetric", .bool, .value(.bool(false)), namedOnly: true, methods: ["rtn", "gptq"]),
                ParamSpec(
                    "axis", .choice(["row", "col", "tensor"]), .value(.string("row")), namedOnly: true,
                    methods: ["rtn", "gptq", "kmeans"]),
                ParamSpec("clip", .choice(["minmax", "mse"]), .value(.string("minmax")), namedOnly: true, methods: ["rtn"]),
                ParamSpec("method", .choice(QuantizeMethod.allCases.map(\.rawValue)), .value(.string("rtn")), namedOnly: true),
                ParamSpec(
                    "groups", .integer, .value(.number(2)), range: 1...65_536, namedOnly: true,
                    doc: "Column groups, each with its own residual VQ.", methods: ["grvq"]),
                ParamSpec(
                    "dim", .integer, .value(.number(4)), range: 1...65_536, namedOnly: true,
                    doc: "Sub-vector length along rows.", methods: vectorMethods + ["vptq"]),
                ParamSpec(
                    "codes", .integer, .value(.number(256)), range: 1...1_000_000, namedOnly: true,
                    doc: "Codebook entries (per subspace for pq, per stage for rvq).", methods: vectorMethods + ["vptq"]),
                ParamSpec(
                    "stages", .integer, .value(.number(2)), range: 1...64, namedOnly: true, doc: "Residual stages.",
                    methods: ["rvq", "grvq"]),
                ParamSpec(
                    "iters", .integer, .value(.number(25)), range: 1...10_000, namedOnly: true, doc: "k-means iterations.",
                    methods: ["kmeans", "vptq"] + vectorMethods),
                seedParam.only(vectorMethods + ["vptq"]),
                ParamSpec(
                    "residual_codes", .integer, .value(.number(0)), range: 0...1_000_000, namedOnly: true,
                    doc: "Entries of VPTQ's residual codebook (0: none).", methods: ["vptq"]),
                ParamSpec(
                    "outliers", .number, .value(.number(0)), range: 0...0.99, namedOnly: true,
                    doc: "Fraction of VPTQ's tiles (by Hessian mass) with a codebook of their own.", methods: ["vptq"]),
                ParamSpec(
                    "points_per_code", .integer, .value(.number(0)), range: 0...1_000_000, namedOnly: true,
                    doc:
                        "k-means on this many vectors per code: half the largest by H-weighted norm, half drawn from the seed for the rest "
                        + "(0: every vector).",
                    methods: ["vptq"]),
                ParamSpec(
                    "X", .tensor, .none, namedOnly: true, doc: "Calibration activations (tokens × in).", methods: ["gptq", "awq", "vptq"]),
                ParamSpec(
                    "from", .integer, .value(.number(8)), range: 2...16, namedOnly: true,
                    doc: "Width of the stored integer model the b-bit codes are read from.", methods: ["double_rounding"]),
                ParamSpec(
                    "rounding", .choice(DoubleRounding.Mode.allCases.map(\.rawValue)), .value(.string("double")), namedOnly: true,
                    doc: "double: round the stored codes again; centered: half up, read at the cell's centre; direct: round the floats; "
                        + "truncate: drop the low bits.",
                    methods: ["double_rounding"]),
                ParamSpec(
                    "clip_search", .bool, .value(.bool(true)), namedOnly: true,
                    doc: "AWQ's per-group clipping search after the scale search.", methods: ["awq"]),
                ParamSpec(
                    "act_order", .bool, .value(.bool(false)), namedOnly: true,
                    doc: "Process columns by descending activation energy H_ii, with group grids fixed beforehand (static groups).",
                    methods: ["gptq"]),
                ParamSpec(
                    "scale_bits", .choice(["16", "32"]), .value(.string("16")), namedOnly: true,
                    doc: "Precision of the stored scales (and of kmeans levels).", methods: ["rtn", "gptq", "awq", "kmeans"]),
            ]
        ) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            guard W.rank == 2 || W.rank == 1 else {
                throw args.error("W", "expected a weight matrix [out, in] or a vector, got shape \(Shape.describe(W.shape))")
            }
            // The parameter is a checked choice, so the guard never fails; it keeps a new choice from trapping.
            guard let method = QuantizeMethod(rawValue: try args.string("method")) else { throw args.error("method", "unknown method") }
            switch method {
            case .rtn: return try quantizeRTN(W, args)
            case .gptq: return try quantizeGPTQ(W, args, interp)
            case .awq: return try quantizeAWQ(W, args, interp)
            case .doubleRounding: return try quantizeDoubleRounding(W, args)
            case .vptq: return try quantizeVPTQ(W, args, interp)
            case .nf4: return try quantizeNF4(W, args)
            case .kmeans: return try quantizeKMeans(W, args, interp)
            case .vq, .pq, .rvq, .grvq: return try quantizeVectors(W, method, args, interp)
            }
        }
    ]

    /// The methods of `quantize`, each bound by one function below.
    enum QuantizeMethod: String, CaseIterable {
        case rtn, nf4, gptq, awq, vptq, kmeans, vq, pq, rvq, grvq
        case doubleRounding = "double_rounding"
    }

    /// The vector quantizers are the core's own list.
    static let vectorMethods = Compressed.VectorMethod.allCases.map(\.rawValue)

    static func scaleBits(_ args: Arguments) throws -> Int { Int(try args.string("scale_bits")) ?? 16 }

    static func axis(_ args: Arguments) throws -> Quantizer.Axis { Quantizer.Axis(rawValue: try args.string("axis")) ?? .row }

    static func quantizeRTN(_ W: Tensor, _ args: Arguments) throws -> Value {
        let clip = Quantizer.Clip(rawValue: try args.string("clip")) ?? .minmax
        return compressed(
            try Compressed.rtn(
                W, bits: try args.int("bits"), group: try args.optionalInt("group"),
                symmetric: try args.bool("symmetric"), axis: try axis(args), clip: clip,
                scaleBits: try scaleBits(args)))
    }

    static func quantizeGPTQ(_ W: Tensor, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        guard let X = try args.optionalTensor("X") else {
            throw args.error("X", "method: \"gptq\" needs calibration activations X (tokens × in)")
        }
        try checkFinite(X, args, "X")
        guard W.rank == 2 else { throw args.error("W", "gptq quantizes a weight matrix [out, in]") }
        guard try args.string("axis") == "row" else { throw args.error("axis", "gptq groups along rows (axis: \"row\")") }
        return compressed(
            try Compressed.gptq(
                W, X: X, bits: try args.int("bits"), group: try args.optionalInt("group"),
                symmetric: try args.bool("symmetric"), scaleBits: try scaleBits(args),
                actOrder: try args.bool("act_order"), cancellation: interp.cancellation))
    }

    /// X for a method that calibrates on a layer's inputs: present, finite, tokens × the layer's inputs.
    static func layerInputs(_ W: Tensor, _ args: Arguments, _ method: String) throws -> Tensor {
        guard let X = try args.optionalTensor("X") else {
            throw args.error("X", "method: \"\(method)\" needs calibration activations X (tokens × in)")
        }
        try checkFinite(X, args, "X")
        guard W.rank == 2 else { throw args.error("W", "\(method) needs a weight matrix [out, in]") }
        guard X.rank == 2, X.shape[1] == W.shape[1], X.shape[0] > 0 else {
            throw args.error("X", "X must be tokens × \(W.shape[1]) (the layer's inputs), got \(Shape.describe(X.shape))")
        }
        return X
    }

    static func quantizeAWQ(_ W: Tensor, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let X = try layerInputs(W, args, "awq")
        guard try args.string("axis") == "row" else { throw args.error("axis", "awq groups along rows (axis: \"row\")") }
        if let g = try args.optionalInt("group"), W.shape[1] % g != 0 {
            throw args.error("group", "AWQ's groups must divide the \(W.shape[1]) inputs, got \(g)")
        }
        return compressed(
            try Compressed.awq(
                W, X: X, bits: try args.int("bits"), group: try args.optionalInt("group"), clip: try args.bool("clip_search"),
                scaleBits: try scaleBits(args), cancellation: interp.cancellation))
    }

    static func quantizeDoubleRounding(_ W: Tensor, _ args: Arguments) throws -> Value {
        guard W.rank == 2 else { throw args.error("W", "double rounding quantizes a weight matrix [out, in]") }
        let bits = try args.int("bits"), from = try args.int("from")
        guard bits >= 2, bits <= from else { throw args.error("bits", "bits must be 2…\(from) (at most from: \(from)), got \(bits)") }
        let mode = DoubleRounding.Mode(rawValue: try args.string("rounding"))!
        return compressed(try Compressed.doubleRounding(W, bits: bits, from: from, group: try args.optionalInt("group"), mode: mode))
    }

    static func quantizeVPTQ(_ W: Tensor, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let X = try layerInputs(W, args, "vptq")
        var o = VPTQ.Options()
        o.dim = try args.int("dim")
        o.codes = try args.int("codes")
        o.residualCodes = try args.int("residual_codes")
        o.outlierFraction = try args.number("outliers")
        o.iterations = try args.int("iters")
        o.pointsPerCode = try args.int("points_per_code")
        guard W.shape[1] % o.dim == 0, 128 % o.dim == 0 else {
            throw args.error("dim", "dim \(o.dim) must divide the \(W.shape[1]) inputs and the column block of 128")
        }
        let options = o
        return compressed(
            try withGenerator(args, interp) { g in
                try Compressed.vptq(W, X: X, options: options, rng: &g, cancellation: interp.cancellation)
            })
    }

    static func quantizeNF4(_ W: Tensor, _ args: Arguments) throws -> Value {
        guard try args.int("bits") == 4 else { throw args.error("bits", "NF4 has 16 levels: bits must be 4") }
        return compressed(try Compressed.nf4(W, block: try args.optionalInt("group") ?? 64))
    }

    static func quantizeKMeans(_ W: Tensor, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        compressed(
            try Compressed.scalarKMeans(
                W, bits: try args.int("bits"), axis: try axis(args), iters: try args.int("iters"),
                levelBits: try scaleBits(args), cancellation: interp.cancellation))
    }

    static func quantizeVectors(_ W: Tensor, _ method: QuantizeMethod, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        guard W.rank == 2 else { throw args.error("W", "\(method.rawValue) quantizes a matrix") }
        guard let vector = Compressed.VectorMethod(rawValue: method.rawValue) else {
            throw args.error("method", "'\(method.rawValue)' is not a vector quantizer (\(vectorMethods.joined(separator: ", ")))")
        }
        let (dim, codes, stages) = (try args.int("dim"), try args.int("codes"), try args.int("stages"))
        let (iters, groups) = (try args.int("iters"), try args.int("groups"))
        return compressed(
            try withGenerator(args, interp) { g in
                try Compressed.vectorQuantized(
                    W, method: vector, dim: dim, codes: codes, stages: stages, groups: groups, iters: iters,
                    rng: &g, cancellation: interp.cancellation)
            })
    }
}
