import Foundation
import OrderedCollections
import SqueezeCore

/// Quantization, pruning, low rank, entropy coding and the metrics that score them. Every
/// compressor returns a compressed value that knows its reconstruction and its exact storage.
///
/// Storage accounting (`.bits`): codes at `bits` each; one scale per group at `scale_bits` (16 by
/// default, and the reconstruction uses the fp16-rounded scale, so what is counted is what is used)
/// plus, for asymmetric grids, one zero point at `bits`; NF4 adds a 32-bit absmax per block; pruned
/// weights keep their values at 32 bits plus the mask (1 bit per weight, or log₂ C(M, N) bits per
/// N:M group); low-rank factors count r·(m + n) values at 32 bits.
extension Builtins {
    static func compressed(_ method: String, _ recon: Tensor, bits: Double, _ parts: [(String, Value)]) -> Value {
        .compressed(CompressedValue(method: method, recon: recon, bits: bits, parts: OrderedDictionary(uniqueKeysWithValues: parts)))
    }

    /// A core error's text without its own "name: " prefix (the binding adds the operation's).
    static func bare(_ e: CoreError) -> String {
        let d = e.description
        if let colon = d.firstIndex(of: ":"), !d[..<colon].contains(" ") { return String(d[d.index(after: colon)...]).trimmingCharacters(in: .whitespaces) }
        return d
    }

    static func checkFinite(_ t: Tensor, _ args: Arguments, _ name: String) throws {
        if let bad = t.nonFiniteDescription { throw args.error(name, "'\(name)' contains \(bad)") }
    }

    static let compression: [Operation] = [
        Operation("quantize", family: "compression", summary: "Quantize weights: round-to-nearest (min/max or MSE clipping), NF4, or GPTQ with calibration data.",
                  doc: """
                  method: "kmeans" is non-uniform scalar quantization: 2^bits levels per row (axis: "row", SqueezeLLM's per-channel lookup tables), per column or per tensor, fitted by exact 1-D Lloyd iterations (`iters`) from the quantiles; levels stored (and used) at scale_bits. method: "vq" cuts rows into sub-vectors of `dim` values and snaps each to one shared k-means codebook of `codes` entries; "rvq" fits `stages` such codebooks to successive residuals (SoundStream/EnCodec); "grvq" splits the columns into `groups` blocks, each with its own `stages`-level RVQ (HiFi-Codec); "pq" gives each of the cols/dim subspaces its own codebook over the rows (Jégou et al. 2011). Codebooks are counted at 32 bits per value, indices at log₂ codes bits; each codebook is fitted on a random sample of at most 256·codes vectors (faiss's default), then every vector takes its nearest code. RTN (GPTQ's quant.py): per group of `group` consecutive weights along each row (axis: "row"; "col" groups down columns; "tensor" one grid), range [min(w, 0), max(w, 0)], asymmetric scale (max − min)/(2^b − 1) and zero round(−min/scale), or symmetric scale 2·max|w|/(2^b − 1) and zero 2^(b−1); q = clamp(round(w/scale) + zero, 0, 2^b − 1), ŵ = scale(q − zero), half to even. clip: "mse" searches shrunken ranges p = 1 − i/100 (i < 80) minimising Σ|ŵ − w|^2.4. method: "nf4" maps blocks of `group` (default 64) weights scaled by their absmax to QLoRA's 16 NormalFloat levels. method: "gptq" needs X (calibration rows × inputs): H = 2/N·XᵀX, 1% damping, column-wise error propagation through the upper Cholesky factor of H⁻¹ in 128-column blocks (Frantar et al. 2023); with a diagonal H it equals RTN; act_order: true processes the columns by descending H_ii with static group grids (same storage). Weights are [out, in] as in PyTorch. Returns a compressed value with codes, scales and zeros.
                  """,
                  example: "W = randn(8, 256, seed: 1)\nq = quantize(W, bits: 4, group: 128)\nprint(round(q.bits_per_param, digits: 4), round(error(W, q), digits: 4))",
                  params: [ParamSpec("W", .tensor),
                           ParamSpec("bits", .integer, .value(.number(4)), range: 1...16, namedOnly: true, doc: "Bits per code."),
                           ParamSpec("group", .integer, .none, range: 1...1_000_000_000, namedOnly: true, doc: "Weights per grid (default: the whole row; 64 for nf4)."),
                           ParamSpec("symmetric", .bool, .value(.bool(false)), namedOnly: true),
                           ParamSpec("axis", .choice(["row", "col", "tensor"]), .value(.string("row")), namedOnly: true),
                           ParamSpec("clip", .choice(["minmax", "mse"]), .value(.string("minmax")), namedOnly: true),
                           ParamSpec("method", .choice(["rtn", "nf4", "gptq", "kmeans", "vq", "pq", "rvq", "grvq"]), .value(.string("rtn")), namedOnly: true),
                           ParamSpec("groups", .integer, .value(.number(2)), range: 1...65_536, namedOnly: true, doc: "grvq: column groups, each with its own residual VQ."),
                           ParamSpec("dim", .integer, .value(.number(4)), range: 1...65_536, namedOnly: true, doc: "vq/pq/rvq: sub-vector length along rows."),
                           ParamSpec("codes", .integer, .value(.number(256)), range: 1...1_000_000, namedOnly: true, doc: "vq/pq/rvq: codebook entries (per subspace for pq, per stage for rvq)."),
                           ParamSpec("stages", .integer, .value(.number(2)), range: 1...64, namedOnly: true, doc: "rvq: residual stages."),
                           ParamSpec("iters", .integer, .value(.number(25)), range: 1...10_000, namedOnly: true, doc: "kmeans/vq/pq/rvq: k-means iterations."),
                           seedParam,
                           ParamSpec("X", .tensor, .none, namedOnly: true, doc: "Calibration activations (tokens × in) for gptq."),
                           ParamSpec("act_order", .bool, .value(.bool(false)), namedOnly: true, doc: "gptq: process columns by descending activation energy H_ii, with group grids fixed beforehand (static groups)."),
                           ParamSpec("scale_bits", .choice(["16", "32"]), .value(.string("16")), namedOnly: true, doc: "Precision of the stored scales (and of kmeans levels).")]) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            guard W.rank == 2 || W.rank == 1 else { throw args.error("W", "expected a weight matrix [out, in] or a vector, got shape \(Shape.describe(W.shape))") }
            let bits = try args.int("bits")
            let method = try args.string("method")
            let scaleBits = Int(try args.string("scale_bits")) ?? 16
            if method == "nf4" {
                guard bits == 4 else { throw args.error("bits", "NF4 has 16 levels: bits must be 4") }
                let block = try args.optionalInt("group") ?? 64
                do {
                    let r = try Quantizer.nf4(W, block: block)
                    return compressed("nf4", r.recon, bits: Double(4 * W.count + 32 * r.absmax.count),
                                      [("codes", .tensor(Tensor(shape: W.shape, storage: r.codes.map(Float.init)))), ("absmax", .tensor(Tensor(r.absmax)))])
                } catch let e as CoreError { throw args.error("group", bare(e)) }
            }
            if method == "kmeans" {
                let axis = Quantizer.Axis(rawValue: try args.string("axis")) ?? .row
                let r = try Quantizer.kmeans(W, bits: bits, axis: axis, iters: try args.int("iters"), levelBits: scaleBits)
                let levelCount = r.levels.reduce(0) { $0 + $1.count }
                return compressed("kmeans", r.recon, bits: Double(bits * W.count + scaleBits * levelCount), [
                    ("codes", .tensor(r.codes)),
                    ("levels", r.levels.count == 1 ? .tensor(Tensor(r.levels[0])) : .list(r.levels.map { .tensor(Tensor($0)) })),
                ])
            }
            if ["vq", "pq", "rvq", "grvq"].contains(method) {
                guard W.rank == 2 else { throw args.error("W", "\(method) quantizes a matrix") }
                let dim = try args.int("dim"), codes = try args.int("codes"), stages = try args.int("stages"), iters = try args.int("iters"), groups = try args.int("groups")
                let r: VectorQuantization.Result
                do {
                    r = try withGenerator(args, interp) { g in
                        switch method {
                        case "pq": return try VectorQuantization.product(W, dim: dim, codes: codes, iters: iters, rng: &g, cancellation: interp.cancellation)
                        case "grvq": return try VectorQuantization.groupResidual(W, groups: groups, dim: dim, codes: codes, stages: stages, iters: iters, rng: &g, cancellation: interp.cancellation)
                        default: return try VectorQuantization.residual(W, dim: dim, codes: codes, stages: method == "rvq" ? stages : 1, iters: iters, rng: &g, cancellation: interp.cancellation)
                        }
                    }
                } catch let e as CoreError {
                    if case .cancelled = e { throw e }
                    throw args.error(e.description.contains("dim") ? "dim" : "codes", bare(e))
                }
                let indexBits = log2(Double(codes))
                let bits = r.codes.reduce(0.0) { $0 + Double($1.count) * indexBits } + r.codebooks.reduce(0.0) { $0 + Double(32 * $1.count) }
                let codeTensors: [Value] = r.codes.map { .tensor(Tensor($0.map(Float.init))) }
                return compressed(method, r.recon, bits: bits, [
                    ("codes", r.codes.count == 1 ? codeTensors[0] : .tensor(Tensor(r.codes.flatMap { $0.map(Float.init) }))),
                    ("codebooks", .list(r.codebooks.map { .tensor($0) })),
                ])
            }
            let symmetric = try args.bool("symmetric")
            let group = try args.optionalInt("group")
            if try args.bool("act_order"), method != "gptq" { throw args.error("act_order", "act_order applies to method: \"gptq\" only") }
            let result: Quantizer.Result
            if method == "gptq" {
                guard let X = try args.optionalTensor("X") else { throw args.error("X", "method: \"gptq\" needs calibration activations X (tokens × in)") }
                try checkFinite(X, args, "X")
                guard W.rank == 2 else { throw args.error("W", "gptq quantizes a weight matrix [out, in]") }
                guard try args.string("axis") == "row" else { throw args.error("axis", "gptq groups along rows (axis: \"row\")") }
                do { result = try GPTQ.quantize(W, X: X, bits: bits, group: group, symmetric: symmetric, scaleBits: scaleBits, actOrder: try args.bool("act_order")) } catch let e as CoreError {
                    throw args.error(e.description.contains("group") ? "group" : "X", bare(e))
                }
            } else {
                let axis = Quantizer.Axis(rawValue: try args.string("axis")) ?? .row
                let clip = Quantizer.Clip(rawValue: try args.string("clip")) ?? .minmax
                do { result = try Quantizer.rtn(W, bits: bits, group: group, symmetric: symmetric, axis: axis, clip: clip, scaleBits: scaleBits) } catch let e as CoreError {
                    throw args.error("group", bare(e))
                }
            }
            let side = Double(result.grids.count * (scaleBits + (symmetric ? 0 : bits)))
            return compressed(method, result.recon, bits: Double(bits * W.count) + side, [
                ("codes", .tensor(result.codes)),
                ("scales", .tensor(Tensor(result.grids.map(\.scale)))),
                ("zeros", .tensor(Tensor(result.grids.map(\.zero)))),
            ])
        },

        Operation("prune", family: "compression", summary: "Prune weights: magnitude (unstructured), N:M patterns, or Wanda's |W|·‖X‖ per output row.",
                  doc: "sparsity: s removes the weights with |w| ≤ the ⌊s·n⌋-th smallest |w| (the Wanda repository's magnitude baseline). pattern: \"2:4\" keeps the N largest of every M consecutive weights in each row (with method: \"wanda\", by Wanda's score). method: \"wanda\" with X (tokens × in) scores |W_ij|·‖X_j‖₂ and removes ⌊s·in⌋ per output row (Sun et al. 2023). The mask is a part of the value and counted in .bits.",
                  example: "W = randn(4, 8, seed: 2)\np = prune(W, pattern: \"2:4\")\nprint(sum(p.mask), p.bits_per_param)",
                  params: [ParamSpec("W", .tensor),
                           ParamSpec("sparsity", .number, .none, range: 0...1, namedOnly: true, doc: "Fraction of weights removed."),
                           ParamSpec("pattern", .string, .none, namedOnly: true, doc: "\"N:M\": keep N of every M along rows."),
                           ParamSpec("method", .choice(["magnitude", "wanda"]), .value(.string("magnitude")), namedOnly: true),
                           ParamSpec("X", .tensor, .none, namedOnly: true, doc: "Calibration activations (tokens × in) for wanda.")]) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            let method = try args.string("method")
            var scores: [Float]?
            if method == "wanda" {
                guard let X = try args.optionalTensor("X") else { throw args.error("X", "method: \"wanda\" needs calibration activations X (tokens × in)") }
                try checkFinite(X, args, "X")
                do { scores = try Pruning.wandaScores(W, X: X) } catch let e as CoreError { throw args.error("X", bare(e)) }
            }
            let pruned: Pruning.Result, maskBits: Double
            if !args.isNone("pattern") {
                let p = try args.string("pattern").split(separator: ":").compactMap { Int($0) }
                guard p.count == 2 else { throw args.error("pattern", "pattern must be \"N:M\", like \"2:4\"") }
                guard p[0] >= 0, p[1] >= 1, p[0] <= p[1] else { throw args.error("pattern", "N:M needs 0 ≤ N ≤ M, got \(p[0]):\(p[1])") }
                do { pruned = try Pruning.nm(W, n: p[0], m: p[1], scores: scores) } catch let e as CoreError { throw args.error("pattern", bare(e)) }
                var comb = 1.0
                for i in 0..<p[0] { comb = comb * Double(p[1] - i) / Double(i + 1) }
                maskBits = Double(W.count / p[1]) * log2(comb)
            } else {
                guard let s = try args.optionalNumber("sparsity") else { throw args.error("give sparsity: s or pattern: \"N:M\"") }
                if method == "wanda" {
                    guard W.rank == 2, let scores else { throw args.error("W", "wanda prunes a weight matrix [out, in]") }
                    pruned = Pruning.wanda(W, scores: scores, sparsity: s)
                } else {
                    pruned = Pruning.magnitude(W, sparsity: s)
                }
                maskBits = Double(W.count)
            }
            let kept = pruned.kept
            return compressed(method == "wanda" ? "wanda" : (args.isNone("pattern") ? "magnitude" : "nm"), pruned.recon, bits: Double(32 * kept) + maskBits, [
                ("mask", .tensor(pruned.mask)),
                ("sparsity", .number(1 - Double(kept) / Double(max(1, W.count)))),
            ])
        },

        Operation("lowrank", family: "compression", summary: "Truncated SVD W ≈ B·A (Eckart–Young optimal) at a rank or a kept energy.",
                  doc: "B = U_r Σ_r (m × r), A = V_rᵀ (r × n), from sgesdd. rank: r, or energy: e keeps the smallest r with Σ_{i≤r} σᵢ² ≥ e·Σσᵢ². The relative error is √(Σ_{i>r} σᵢ²)/‖W‖. Storage r·(m + n) values at 32 bits; the break-even rank is mn/(m + n) (LoRD).",
                  example: "W = randn(64, 32, seed: 3)\nc = lowrank(W, rank: 8)\nprint(shape(c.B), shape(c.A), round(c.ratio, digits: 3))",
                  params: [ParamSpec("W", .tensor), ParamSpec("rank", .integer, .none, range: 1...1_000_000, namedOnly: true),
                           ParamSpec("energy", .number, .none, range: 0...1, namedOnly: true)]) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            guard W.rank == 2 else { throw args.error("W", "expected a matrix, got shape \(Shape.describe(W.shape))") }
            if let r = try args.optionalInt("rank"), r > min(W.shape[0], W.shape[1]) {
                throw args.error("rank", "rank \(r) is larger than min(m, n) = \(min(W.shape[0], W.shape[1]))")
            }
            let f = try LowRank.truncated(W, rank: try args.optionalInt("rank"), energy: try args.optionalNumber("energy"))
            let recon = try Tensor.gemm(f.B, f.A)
            return compressed("lowrank", recon, bits: Double(32 * f.rank * (W.shape[0] + W.shape[1])),
                              [("B", .tensor(f.B)), ("A", .tensor(f.A)), ("rank", int(f.rank)), ("S", .tensor(f.S))])
        },

        Operation("eora", family: "compression", summary: "EoRA: a rank-r correction B·A of a compressed C, fitted in the eigenspace of the calibration activations.",
                  doc: "ΔW = W − C; the calibration covariance XᵀX/N = QΛQᵀ (negative eigenvalues clamped to the smallest positive); SVD of ΔW·QΛ^½ = USVᵀ; B = U_r S_r^½, A = S_r^½ V_rᵀ (QΛ^½)⁻¹ (Liu et al. 2024, GPTQModel's eora.py). Minimises the layer-output error ‖(ΔW − BA)Xᵀ‖; equals plain SVD of ΔW when XᵀX ∝ I. B and A are stored (and used) in fp16; .bits = C's bits + 16·r·(m + n).",
                  example: "W = randn(16, 32, seed: 1)\nX = randn(200, 32, seed: 2)\nq = quantize(W, bits: 2)\nc = eora(W, q, X, rank: 4)\nprint(output_error(W, c.recon, X) < output_error(W, q.recon, X))",
                  params: [ParamSpec("W", .tensor), ParamSpec("C", .any), ParamSpec("X", .tensor), ParamSpec("rank", .integer, range: 1...1_000_000, namedOnly: true)]) { args, interp in
            let W = try args.tensor("W"), X = try args.tensor("X")
            try checkFinite(W, args, "W")
            guard let C = Ops.toTensor(args.value("C")) else { throw args.error("C", "expected a tensor or a compressed value") }
            let cBits: Double
            if case .compressed(let c) = args.value("C") { cBits = c.bits } else { cBits = Double(32 * C.count) }
            let f: (B: Tensor, A: Tensor)
            do { f = try LowRank.eora(W, C, X: X, rank: try args.int("rank")) } catch let e as CoreError {
                throw args.error(e.description.contains("rank") ? "rank" : (e.description.contains("C ") ? "C" : "X"), bare(e))
            }
            let recon = try C + Tensor.gemm(f.B, f.A)
            let r = f.B.shape[1]
            return compressed("eora", recon, bits: cBits + Double(16 * r * (W.shape[0] + W.shape[1])), [("B", .tensor(f.B)), ("A", .tensor(f.A)), ("base", .tensor(C))])
        },

        Operation("bitstack", family: "compression", summary: "BitStack: blocks of sign bits times a rank-k approximation of the residual's magnitude.",
                  doc: "R₀ = W; each block stores sign(R) (1 bit per weight, 0 → +1) and a rank-k approximation of |R| in fp16, then R ← R − sign ⊙ (UΣVᵀ) (Wang et al. 2025). The residual norm never increases; .norms lists ‖R‖ after 0, 1, … blocks. .bits = blocks·(m·n + 16·k·(m + n)).",
                  example: "W = randn(32, 48, seed: 1)\nb = bitstack(W, blocks: 4, rank: 2)\nprint(len(b.norms))",
                  params: [ParamSpec("W", .tensor), ParamSpec("blocks", .integer, .value(.number(4)), range: 1...1024, namedOnly: true),
                           ParamSpec("rank", .integer, .value(.number(1)), range: 1...1_000_000, namedOnly: true)]) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            let blocks = try args.int("blocks"), k = try args.int("rank")
            let r: (recon: Tensor, residualNorms: [Double])
            do { r = try LowRank.bitstack(W, blocks: blocks, rank: k) } catch let e as CoreError {
                throw args.error(e.description.contains("rank") ? "rank" : "W", bare(e))
            }
            let (m, n) = (W.shape[0], W.shape[1])
            return compressed("bitstack", r.recon, bits: Double(blocks * (m * n + 16 * k * (m + n))),
                              [("norms", .list(r.residualNorms.map { .number($0) })), ("blocks", int(blocks))])
        },

        Operation("gear", family: "compression", summary: "GEAR KV-cache compression: group-wise quantization + a low-rank residual + exact sparse outliers.",
                  doc: "D̂ = Q(D − S) + L + S for a tokens × channels matrix (Kang et al. 2024, the KIVI-based variant): S keeps each row's ⌊outliers·channels/2⌋ largest and smallest entries exactly; Q quantizes groups of `group` channels per token asymmetrically (scale (max − min)/(2^b − 1), offset min); L is a rank-r truncated SVD of what remains (the reference uses power iterations). Defaults as the reference scripts: 2 bits, group 64, outliers 2%, rank 4. .bits: codes + an fp16 scale and offset per group + outliers at 32 bits plus log₂(channels) index bits + r·(m + n) fp16 factors.",
                  example: "K = randn(64, 128, seed: 1)\ng = gear(K)\nprint(error(K, g) < error(K, gear(K, rank: 0, outliers: 0)))",
                  params: [ParamSpec("D", .tensor), ParamSpec("bits", .integer, .value(.number(2)), range: 1...16, namedOnly: true),
                           ParamSpec("group", .integer, .value(.number(64)), range: 1...1_000_000, namedOnly: true),
                           ParamSpec("rank", .integer, .value(.number(4)), range: 0...1_000_000, namedOnly: true),
                           ParamSpec("outliers", .number, .value(.number(0.02)), range: 0...1, namedOnly: true)]) { args, interp in
            let D = try args.tensor("D")
            try checkFinite(D, args, "D")
            let (bits, group, rank, outliers) = (try args.int("bits"), try args.int("group"), try args.int("rank"), try args.number("outliers"))
            let r: GEAR.Result
            do { r = try GEAR.compress(D, bits: bits, group: group, rank: rank, outliers: outliers) } catch let e as CoreError {
                throw args.error(e.description.contains("rank") ? "rank" : e.description.contains("group") ? "group" : "D", bare(e))
            }
            let (m, n) = (D.shape[0], D.shape.count > 1 ? D.shape[1] : 1)
            let bitsTotal = Double(bits * D.count + 32 * r.groups) + Double(r.outliers) * (32 + log2(Double(n))) + Double(16 * rank * (m + n))
            return compressed("gear", r.recon, bits: bitsTotal, [("outliers", int(r.outliers)), ("rank", int(rank))])
        },

        Operation("kvquant", family: "compression", summary: "KVQuant: per-channel (keys) or per-token (values) non-uniform quantization with dense-and-sparse outliers.",
                  doc: "Hooper et al. 2024: values outside each vector's [1 − t, t] percentiles (t = 1 − outliers/2; outliers 0.01 ≈ the reference's 0.99 threshold) stay exact; the rest is normalised to [−1, 1] by the vector's zero point (hi + lo)/2 and half range (hi − lo)/2 and rounded to the nearest of 2^b levels from 1-D k-means on the normalised values (NUQ; the reference weights it by Fisher information, which needs gradients squeeze does not have). per: \"channel\" for keys, \"token\" for values. .bits: b per value + an fp16 zero point and range per vector + 2^b fp16 levels + outliers at 16 bits plus a 32-bit index.",
                  example: "K = randn(128, 64, seed: 1)\nq = kvquant(K, bits: 3, per: \"channel\", seed: 0)\nprint(error(K, q) < 0.2)",
                  params: [ParamSpec("X", .tensor), ParamSpec("bits", .integer, .value(.number(4)), range: 1...12, namedOnly: true),
                           ParamSpec("per", .choice(["channel", "token"]), .value(.string("channel")), namedOnly: true),
                           ParamSpec("outliers", .number, .value(.number(0.01)), range: 0...0.5, namedOnly: true), seedParam]) { args, interp in
            let X = try args.tensor("X")
            try checkFinite(X, args, "X")
            let (bits, outliers) = (try args.int("bits"), try args.number("outliers"))
            let perChannel = try args.string("per") == "channel"
            let r: KVQuant.Result
            do { r = try withGenerator(args, interp) { try KVQuant.compress(X, bits: bits, perChannel: perChannel, outliers: outliers, rng: &$0) } } catch let e as CoreError {
                throw args.error("X", bare(e))
            }
            let bitsTotal = Double(bits * X.count + 32 * r.vectors + 16 * r.levels.count + 48 * r.outliers)
            return compressed("kvquant", r.recon, bits: bitsTotal, [("levels", .tensor(Tensor(r.levels))), ("outliers", int(r.outliers))])
        },

        Operation("tt", family: "compression", summary: "Tensor-train (MPO) decomposition of W's values viewed as a tensor of extents `shape`, by sequential truncated SVDs.",
                  doc: "W (row-major) is reshaped to n₁ × … × n_d (their product is W's size) and factored into cores G_k of r_{k−1} × n_k × r_k with r_k ≤ ranks[k] (TT-SVD, Oseledets 2011; CompactifAI applies it to LLM layers). Full ranks reproduce W exactly; .bits counts the cores at 32 bits. Returns {cores, …}.",
                  example: "W = randn(16, 16, seed: 1)\nt = tt(W, shape: [4, 4, 4, 4], ranks: [4, 8, 4])\nprint(len(t.cores), t.bits_per_param < 32)",
                  params: [ParamSpec("W", .tensor), ParamSpec("shape", .list, namedOnly: true), ParamSpec("ranks", .list, namedOnly: true)]) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            let r: (cores: [Tensor], recon: Tensor)
            do { r = try TensorTrain.decompose(W, shape: try args.ints("shape"), ranks: try args.ints("ranks")) } catch let e as CoreError {
                throw args.error(e.description.contains("ranks") ? "ranks" : "shape", bare(e))
            }
            return compressed("tt", r.recon, bits: Double(32 * r.cores.reduce(0) { $0 + $1.count }), [("cores", .list(r.cores.map { .tensor($0) }))])
        },

        Operation("rsvd", family: "compression", summary: "Randomized truncated SVD (Halko et al. 2011): Gaussian sketch, power iterations, small SVD.",
                  doc: "Sketch with rank + oversample Gaussian columns, `iters` power iterations re-orthonormalised by QR, then the SVD of QᵀW. Returns the same compressed value as lowrank (B = U_r Σ_r, A = V_rᵀ).",
                  example: "W = randn(200, 100, seed: 4)\nc = rsvd(W, rank: 10, seed: 1)\nprint(shape(c.B))",
                  params: [ParamSpec("W", .tensor), ParamSpec("rank", .integer, range: 1...1_000_000, namedOnly: true),
                           ParamSpec("oversample", .integer, .value(.number(10)), range: 0...10_000, namedOnly: true),
                           ParamSpec("iters", .integer, .value(.number(4)), range: 0...100, namedOnly: true), seedParam]) { args, interp in
            let W = try args.tensor("W")
            try checkFinite(W, args, "W")
            guard W.rank == 2 else { throw args.error("W", "expected a matrix, got shape \(Shape.describe(W.shape))") }
            let r = try args.int("rank")
            guard r <= min(W.shape[0], W.shape[1]) else { throw args.error("rank", "rank \(r) is larger than min(m, n) = \(min(W.shape[0], W.shape[1]))") }
            let (os, it) = (try args.int("oversample"), try args.int("iters"))
            let f = try withGenerator(args, interp) { try LowRank.randomized(W, rank: r, oversample: os, iters: it, rng: &$0) }
            return compressed("rsvd", try Tensor.gemm(f.B, f.A), bits: Double(32 * r * (W.shape[0] + W.shape[1])),
                              [("B", .tensor(f.B)), ("A", .tensor(f.A)), ("rank", int(r))])
        },

        Operation("entropy", family: "compression", summary: "Empirical (order-0) entropy of integer codes, in bits per symbol.",
                  doc: "−Σ pₖ log₂ pₖ over the codes' frequencies: the ideal static cost per symbol, not counting the model (encode gives a real coder's cost).",
                  example: "print(entropy([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3]))",
                  params: [ParamSpec("codes", .any)]) { args, interp in
            return .number(Entropy.empirical(try codeList(args)))
        },

        Operation("encode", family: "compression", summary: "Entropy-code integer codes with a static rANS coder; returns the stream and its full cost.",
                  doc: "rANS with a 32-bit state, byte renormalisation (L = 2^23) and frequencies quantized to 2^12 (ryg_rans). bits counts the payload bytes, the 4-byte state flush and the frequency table (32 + 12 bits per symbol value, 64 bits of header). decode(stream) returns the codes exactly.",
                  example: "s = encode([0, 1, 1, 2, 2, 2, 2, 2])\nprint(decode(s), s.bits > 0)",
                  params: [ParamSpec("codes", .any)]) { args, interp in
            let codes = try codeList(args)
            let s = Entropy.encode(codes)
            return record([("bytes", .tensor(Tensor(s.bytes.map(Float.init)))), ("alphabet", .tensor(Tensor(s.alphabet.map(Float.init)))),
                           ("frequencies", .tensor(Tensor(s.frequencies.map { Float($0) }))), ("count", int(s.count)),
                           ("bits", int(s.totalBits)), ("bits_per_symbol", .number(s.count == 0 ? 0 : Double(s.totalBits) / Double(s.count))),
                           ("payload_bits", int(8 * s.bytes.count))])
        },

        Operation("decode", family: "compression", summary: "Decode a stream made by encode back to its codes.",
                  example: "print(decode(encode([3, 1, 3])))",
                  params: [ParamSpec("stream", .record)]) { args, interp in
            guard case .record(let r) = args.value("stream"),
                  case .tensor(let bytes)? = r.fields["bytes"], case .tensor(let alphabet)? = r.fields["alphabet"],
                  case .tensor(let freq)? = r.fields["frequencies"], case .number(let count)? = r.fields["count"] else {
                throw args.error("stream", "expected the record encode returns ({bytes, alphabet, frequencies, count, …})")
            }
            let s = Entropy.Stream(bytes: bytes.storage.map { UInt8(max(0, min(255, $0))) }, alphabet: alphabet.storage.map { Int($0) },
                                   frequencies: freq.storage.map { UInt32(max(0, $0)) }, count: Int(count))
            do { return .tensor(Tensor(try Entropy.decode(s).map(Float.init))) } catch let e as CoreError { throw args.error("stream", bare(e)) }
        },

        Operation("error", family: "metrics", summary: "Relative Frobenius error ‖A − B‖ / ‖A‖ (B may be a compressed value).",
                  example: "print(error(tensor([3, 4]), tensor([3, 3])))",
                  params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor)]) { args, interp in
            .number(try metric(args) { try Metrics.relativeError($0, $1) })
        },
        Operation("mse", family: "metrics", summary: "Mean squared error between A and B.",
                  example: "print(mse(tensor([1, 2]), tensor([1, 4])))",
                  params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor)]) { args, interp in
            .number(try metric(args) { try Metrics.mse($0, $1) })
        },
        Operation("psnr", family: "metrics", summary: "Peak signal-to-noise ratio 10·log₁₀(peak²/MSE) in dB (peak default: max |A|).",
                  example: "print(round(psnr(tensor([0, 1]), tensor([0, 0.9]), peak: 1), digits: 3))",
                  params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor), ParamSpec("peak", .number, .none, namedOnly: true)]) { args, interp in
            let A = try args.tensor("A")
            let peak = try args.optionalNumber("peak") ?? Double(A.storage.map { abs($0) }.max() ?? 1)
            return .number(try metric(args) { try Metrics.psnr($0, $1, peak: peak) })
        },
        Operation("snr", family: "metrics", summary: "Signal-to-noise ratio 10·log₁₀(‖A‖²/‖A − B‖²) in dB.",
                  example: "print(round(snr(tensor([1, 1]), tensor([1, 0.9])), digits: 3))",
                  params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor)]) { args, interp in
            .number(try metric(args) { try Metrics.snr($0, $1) })
        },
        Operation("output_error", family: "metrics", summary: "Layer-output error ‖X Wᵀ − X Cᵀ‖ / ‖X Wᵀ‖ for calibration activations X.",
                  example: "W = randn(4, 6, seed: 1)\nX = randn(20, 6, seed: 2)\nprint(output_error(W, W, X))",
                  params: [ParamSpec("W", .tensor), ParamSpec("C", .tensor), ParamSpec("X", .tensor)]) { args, interp in
            let W = try args.tensor("W"), C = try args.tensor("C"), X = try args.tensor("X")
            guard W.rank == 2, C.shape == W.shape else { throw args.error("C", "C must have W's shape \(Shape.describe(W.shape)), got \(Shape.describe(C.shape))") }
            guard X.rank == 2, X.shape[1] == W.shape[1] else { throw args.error("X", "X must be tokens × \(W.shape[1]), got \(Shape.describe(X.shape))") }
            return .number(try Metrics.outputError(W, C, X))
        },
        Operation("eval", family: "metrics", summary: "Every metric that applies, as a record: error, mse, snr, psnr, bits_per_param (for compressed values), output_error (with X).",
                  example: "W = randn(8, 16, seed: 5)\nr = eval(W, quantize(W, bits: 3))\nprint(keys(r))",
                  params: [ParamSpec("A", .tensor), ParamSpec("C", .any), ParamSpec("X", .tensor, .none)]) { args, interp in
            let A = try args.tensor("A")
            guard let C = Ops.toTensor(args.value("C")) else { throw args.error("C", "expected a tensor or a compressed value, got \(args.value("C").typeDescription)") }
            guard C.shape == A.shape else { throw args.error("C", "shape \(Shape.describe(C.shape)) differs from A's \(Shape.describe(A.shape))") }
            var pairs: [(String, Value)] = [("error", .number(try Metrics.relativeError(A, C))), ("mse", .number(try Metrics.mse(A, C))),
                                            ("snr", .number(try Metrics.snr(A, C))),
                                            ("psnr", .number(try Metrics.psnr(A, C, peak: Double(A.storage.map { abs($0) }.max() ?? 1))))]
            if case .compressed(let c) = args.value("C") {
                pairs += [("bits", .number(c.bits)), ("bits_per_param", .number(c.bitsPerParam)), ("ratio", c.field("ratio") ?? .none)]
            }
            if let X = try args.optionalTensor("X") {
                guard A.rank == 2, X.rank == 2, X.shape[1] == A.shape[1] else { throw args.error("X", "X must be tokens × \(A.shape.last ?? 0)") }
                pairs.append(("output_error", .number(try Metrics.outputError(A, C, X))))
            }
            return record(pairs)
        },
    ]

    static func metric(_ args: Arguments, _ f: (Tensor, Tensor) throws -> Double) throws -> Double {
        let a = try args.tensor("A"), b = try args.tensor("B")
        guard a.shape == b.shape else { throw args.error("B", "shape \(Shape.describe(b.shape)) differs from A's \(Shape.describe(a.shape))") }
        return try f(a, b)
    }

    /// Integer codes from a tensor, a list or a compressed value's codes.
    static func codeList(_ args: Arguments) throws -> [Int] {
        var v = args.value("codes")
        if case .compressed(let c) = v, let codes = c.parts["codes"] { v = codes }
        guard let t = Ops.toTensor(v) else { throw args.error("codes", "expected integer codes (a tensor or list), got \(v.typeDescription)") }
        return try t.storage.map { x in
            guard x.isFinite, x == x.rounded(), abs(x) < 2_147_483_648 else { throw args.error("codes", "codes must be whole numbers, got \(x)") }
            return Int(x)
        }
    }
}
