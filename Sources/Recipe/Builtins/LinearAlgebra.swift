import Compression
import Foundation
import SqueezeCore

extension Builtins {
    static func record(_ pairs: [(String, Value)]) -> Value { .record(Record(pairs: pairs)) }

    static let linearAlgebra: [Operation] = [
        Operation(
            "svd", family: "linear algebra",
            summary: "Thin singular value decomposition A = U·diag(S)·Vt; with rank: r, the best rank-r truncation.",
            doc: """
                LAPACK sgesdd (divide and conquer) on OpenBLAS. For m×n A with k = min(m, n): U is m×k with orthonormal columns, S the k \
                singular values in descending order, Vt is k×n. By Eckart–Young, keeping the first r triplets gives the best rank-r \
                approximation in Frobenius and spectral norm: ‖A − A_r‖_F² = Σ_{i>r} σ_i². Singular vectors are unique only up to sign. \
                Input with NaN or infinity is refused. Cost O(mn·min(m, n)).
                """,
            example: "r = svd(randn(6, 4, seed: 1))\nprint(shape(r.U), shape(r.S), shape(r.Vt))",
            params: [
                ParamSpec("A", .tensor),
                ParamSpec("rank", .integer, .none, range: 0...1e9, doc: "keep the first r singular triplets"),
            ]
        ) { args, _ in
            let a = try args.tensor("A")
            var (u, s, vt) = try a.svd()
            if let r = try args.optionalInt("rank") {
                guard r <= s.count else { throw args.error("rank", "rank \(r) exceeds min(m, n) = \(s.count)") }
                u = try u.slice([.all, .range(start: 0, stop: r, step: 1)])
                s = try s.slice([.range(start: 0, stop: r, step: 1)])
                vt = try vt.slice([.range(start: 0, stop: r, step: 1)])
            }
            return record([("U", .tensor(u)), ("S", .tensor(s)), ("Vt", .tensor(vt))])
        },
        Operation(
            "eigh", family: "linear algebra", summary: "Eigendecomposition of a symmetric matrix: {values (ascending), vectors (columns)}.",
            doc:
                """
                    LAPACK ssyevd. Only the lower triangle is read (as numpy.linalg.eigh). A·vectors[:, i] = values[i]·vectors[:, i]; \
                    eigenvectors are orthonormal and unique up to sign.
                    """,
            example: "e = eigh(tensor([[2, 1], [1, 2]]))\nprint(e.values)", params: [ParamSpec("A", .tensor)]
        ) { args, _ in
            let (w, v) = try args.tensor("A").eigh()
            return record([("values", .tensor(w)), ("vectors", .tensor(v))])
        },
        Operation(
            "qr", family: "linear algebra",
            summary: "Reduced QR decomposition A = Q·R: {Q (m×k, orthonormal columns), R (k×n upper triangular)}.",
            doc: "LAPACK sgeqrf (Householder) then sorgqr; k = min(m, n).",
            example: "f = qr(randn(5, 3, seed: 2))\nprint(shape(f.Q), shape(f.R))", params: [ParamSpec("A", .tensor)]
        ) { args, _ in
            let (q, r) = try args.tensor("A").qr()
            return record([("Q", .tensor(q)), ("R", .tensor(r))])
        },
        Operation(
            "chol", family: "linear algebra",
            summary: "Cholesky factor L (lower triangular) with A = L·Lᵀ, for symmetric positive definite A.",
            doc: "LAPACK spotrf, reading the lower triangle. Fails with a clear error when A is not positive definite.",
            example: "L = chol(tensor([[4, 2], [2, 3]]))", params: [ParamSpec("A", .tensor)]
        ) { args, _ in
            .tensor(try args.tensor("A").cholesky())
        },
        Operation(
            "solve", family: "linear algebra",
            summary: "Solve A·X = B for square A (LU with partial pivoting, LAPACK sgesv); B a vector or a matrix.",
            example: "x = solve(tensor([[3, 1], [1, 2]]), tensor([9, 8]))", params: [ParamSpec("A", .tensor), ParamSpec("B", .tensor)]
        ) { args, _ in
            .tensor(try args.tensor("A").solve(try args.tensor("B")))
        },
        Operation(
            "inv", family: "linear algebra", summary: "Inverse of a square matrix (LAPACK sgetrf + sgetri); singular input is an error.",
            doc: "Prefer solve(A, B) to inv(A) @ B: it is faster and more accurate.",
            example: "inv(tensor([[2, 0], [0, 4]]))", params: [ParamSpec("A", .tensor)]
        ) { args, _ in
            .tensor(try args.tensor("A").inverse())
        },
        Operation(
            "logdet", family: "linear algebra",
            summary: "Natural log of det A, in Float64: Cholesky for symmetric positive definite A, LU otherwise.",
            doc:
                """
                    log det A = 2·Σ log L_ii for A = L·Lᵀ (LAPACK dpotrf); otherwise LU (dgetrf) with the permutation's sign. A singular \
                    matrix gives -inf; a negative determinant is an error (use slogdet). Used by the coding rate R(Z) = ½ logdet(I + \
                    d/(mε²) Z Zᵀ).
                    """,
            example: "logdet(eye(3) * 2)", params: [ParamSpec("A", .tensor)]
        ) { args, _ in
            let (sign, l) = try args.tensor("A").slogdet()
            if sign < 0 {
                throw args.error("A", "the determinant is negative, so its logarithm is undefined; slogdet(A) gives sign and log|det|")
            }
            return .number(l)
        },
        Operation(
            "slogdet", family: "linear algebra",
            summary: "Sign and natural log of |det A| in Float64: {sign, logabsdet} (numpy.linalg.slogdet).",
            example: "slogdet(tensor([[0, 1], [1, 0]]))", params: [ParamSpec("A", .tensor)]
        ) { args, _ in
            let (sign, l) = try args.tensor("A").slogdet()
            return record([("sign", .number(sign)), ("logabsdet", .number(l))])
        },
        Operation(
            "norm", family: "linear algebra",
            summary: "Vector or matrix norm as numpy.linalg.norm: \"fro\" (default), \"nuc\", 1, 2, \"inf\", or p for vectors.",
            doc:
                """
                    Vectors: ‖x‖_p = (Σ|x_i|^p)^(1/p), with 0 counting non-zeros and \"inf\" the largest |x_i|. Matrices: Frobenius \
                    sqrt(Σ a_ij²) (accumulated in Float64), nuclear Σσ_i, spectral (2) σ_max, 1 the largest column sum, \"inf\" the \
                    largest row sum.
                    """,
            example: "norm(tensor([3, 4]))",
            params: [ParamSpec("A", .tensor), ParamSpec("ord", .any, .value(.string("fro")))]
        ) { args, _ in
            let a = try args.tensor("A")
            let ord: NormOrder
            switch args.value("ord") {
            case .string("fro"): ord = a.rank == 2 ? .frobenius : .p(2)
            case .string("nuc"): ord = .nuclear
            case .string("inf"): ord = .p(.infinity)
            case .string("-inf"): ord = .p(-.infinity)
            case .number(let p): ord = .p(p)
            case let v: throw args.error("ord", "ord must be \"fro\", \"nuc\", \"inf\" or a number, got \(Format.inline(v))")
            }
            return .number(try a.norm(ord))
        },
        Operation(
            "trace", family: "linear algebra", summary: "Sum of the diagonal (Float64).",
            example: "trace(eye(4))", params: [ParamSpec("A", .tensor)]
        ) { args, _ in
            .number(try args.tensor("A").trace())
        },
        Operation(
            "diag", family: "linear algebra", summary: "The diagonal of a matrix, or the diagonal matrix of a vector.",
            example: "diag(tensor([1, 2, 3]))", params: [ParamSpec("A", .tensor)]
        ) { args, _ in
            .tensor(try args.tensor("A").diag())
        },
        Operation(
            "gram", family: "linear algebra", summary: "Gram matrix AᵀA (or A·Aᵀ with outer: true) by OpenBLAS ssyrk.",
            example: "gram(randn(10, 3, seed: 1))",
            params: [ParamSpec("A", .tensor), ParamSpec("outer", .bool, .value(.bool(false)), namedOnly: true)]
        ) { args, _ in
            .tensor(try args.tensor("A").gram(outer: try args.bool("outer")))
        },
        Operation(
            "pca", family: "linear algebra",
            summary: "Principal components of rows-as-samples X: {scores, components, explained_variance, mean}.",
            doc:
                """
                    Centres the columns, X_c = X − mean, takes the thin SVD X_c = U S Vt and keeps k components: components = Vt[:k] \
                    (k×d), scores = X_c·componentsᵀ (n×k), explained_variance = S²/(n−1). Signs follow scikit-learn's svd_flip on Vt \
                    (each component's largest-magnitude entry is positive), so scores match sklearn.decomposition.PCA.
                    """,
            example: "p = pca(randn(50, 5, seed: 3), 2)\nprint(shape(p.scores))",
            params: [ParamSpec("X", .tensor), ParamSpec("k", .integer, range: 0...1e9)]
        ) { args, _ in
            let p = try args.tensor("X").pca(try args.int("k"))
            return record([
                ("scores", .tensor(p.scores)), ("components", .tensor(p.components)),
                ("explained_variance", .tensor(p.explainedVariance)), ("mean", .tensor(p.mean)),
            ])
        },
        Operation(
            "normalize", family: "linear algebra",
            summary: "Scale each row (or each slice along axis) to unit L2 norm; zero rows stay zero.",
            doc: "x_i ← x_i / ‖x_i‖₂, with the norm accumulated in Float64. MCR² and MLC put features on the unit sphere this way.",
            example: "normalize(tensor([[3, 4], [0, 0]]))",
            params: [ParamSpec("X", .tensor), ParamSpec("axis", .integer, .value(.number(-1)), namedOnly: true)]
        ) { args, _ in
            let x = try args.tensor("X")
            let axis = try args.int("axis")
            let norms = try x.map(.square).reduce(.sum, axis: x.rank == 0 ? nil : axis).map { $0 > 0 ? $0.squareRoot() : 1 }
            var shape = x.shape
            if !shape.isEmpty { shape[axis < 0 ? axis + shape.count : axis] = 1 }
            return .tensor(try x.elementwise(.div, try norms.reshaped(shape)))
        },
        Operation(
            "center", family: "linear algebra", summary: "Subtract the column means (rows as samples).",
            example: "center(tensor([[1, 2], [3, 6]]))", params: [ParamSpec("X", .tensor)]
        ) { args, _ in
            let x = try args.tensor("X")
            guard x.rank == 2 else {
                throw args.error("X", "center needs a matrix (rows as samples), got shape \(Shape.describe(x.shape))")
            }
            return .tensor(try x.elementwise(.sub, try x.reduce(.mean, axis: 0)))
        },
    ]
}
