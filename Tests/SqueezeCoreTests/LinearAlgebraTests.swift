import SqueezeCore
import TestSupport
import Testing

/// Products, factorizations and solves against numpy (float64 references; float32 tolerances).
@Suite struct LinearAlgebraTests {
    let fx = Fixture.core

    @Test func matmulAndTransposedGemm() throws {
        let m = fx["matmul"]
        let a = m["A"].tensor, b = m["B"].tensor, c = m["C"].tensor
        expectClose(try a.matmul(b), m["AB"].tensor)
        expectClose(try Tensor.gemm(a, c, transA: true), m["AtC"].tensor)
        expectClose(try Tensor.gemm(a.transposed, c.transposed, transB: true), m["AtC"].tensor)
        expectClose(try a.gram(), m["AtA"].tensor)
        expectClose(try a.gram(outer: true), m["AAt"].tensor)
        let v = fx["matvec"]["v"].tensor
        expectClose(try a.matmul(v), fx["matvec"]["Av"].tensor)
        expectClose(Double(try v.matmul(v).scalarValue!), fx["matvec"]["vv"].double)
    }

    @Test func matmulShapeErrorsAndEmpty() throws {
        let a = Tensor.zeros([2, 3]), b = Tensor.zeros([2, 3])
        #expect(throws: CoreError.self) { try a.matmul(b) }
        // k = 0 gives a zero matrix, as numpy does.
        let e = try Tensor.zeros([3, 0]).matmul(Tensor.zeros([0, 2]))
        #expect(e == Tensor.zeros([3, 2]))
        #expect(try Tensor.zeros([0, 4]).matmul(Tensor.zeros([4, 2])).shape == [0, 2])
    }

    @Test(arguments: ["tall", "wide", "rankdef", "one"])
    func svdMatchesNumpy(name: String) throws {
        let f = fx["svd"][name]
        let a = f["A"].tensor
        let (u, s, vt) = try a.svd()
        let k = min(a.shape[0], a.shape[1])
        #expect(u.shape == [a.shape[0], k] && vt.shape == [k, a.shape[1]])
        expectClose(s, f["S"].tensor, rtol: 1e-5, atol: 1e-5 * Double(f["S"].doubles.first ?? 1))
        // Reconstruction and orthonormality (signs are free, so compare products).
        let us = try u.elementwise(.mul, s)
        expectClose(try us.matmul(vt), a, rtol: 1e-5, atol: 1e-5)
        let rank = Int(f["rank"].double)
        let ur = try u.slice([.all, .range(start: 0, stop: rank, step: 1)])
        expectClose(try ur.gram(), Tensor.eye(rank), atol: 1e-5)
        let vr = try vt.slice([.range(start: 0, stop: rank, step: 1), .all])
        expectClose(try vr.gram(outer: true), Tensor.eye(rank), atol: 1e-5)
        expectClose(try a.singularValues(), s, atol: 1e-5)
    }

    @Test func svdEdgeCases() throws {
        let (u, s, vt) = try Tensor.zeros([0, 3]).svd()
        #expect(u.shape == [0, 0] && s.shape == [0] && vt.shape == [0, 3])
        var bad = Tensor.ones([2, 2]); bad.storage[1] = .nan
        #expect(throws: CoreError.invalidArgument("svd: the input contains 1 NaN or infinite value (first at flat index 1)")) { try bad.svd() }
        #expect(throws: CoreError.self) { try Tensor.ones([3]).svd() }
        // Exact zeros: singular values are all 0.
        #expect(try Tensor.zeros([3, 2]).singularValues().storage == [0, 0])
    }

    @Test func eighReadsLowerTriangle() throws {
        let f = fx["eigh"]
        let (w, v) = try f["A"].tensor.eigh()
        expectClose(w, f["values"].tensor, atol: 1e-5)
        let ref = f["vectors"].tensor
        for j in 0..<5 {   // each eigenvector up to sign
            let a = try v.slice([.all, .index(j)]), b = try ref.slice([.all, .index(j)])
            expectClose(abs(a.dot(b)), 1, atol: 1e-5)
        }
        #expect(throws: CoreError.self) { try Tensor.zeros([2, 3]).eigh() }
    }

    @Test func qrReconstructs() throws {
        let f = fx["qr"], a = f["A"].tensor
        let (q, r) = try a.qr()
        #expect(q.shape == [6, 4] && r.shape == [4, 4])
        expectClose(try q.matmul(r), a, atol: 1e-5)
        expectClose(try q.gram(), Tensor.eye(4), atol: 1e-5)
        expectClose(try r.diag().map(.abs), f["absdiagR"].tensor, atol: 1e-5)
        for i in 0..<4 { for j in 0..<i { #expect(r[i, j] == 0) } }
    }

    @Test func choleskySolveInverse() throws {
        expectClose(try fx["chol"]["A"].tensor.cholesky(), fx["chol"]["L"].tensor, atol: 1e-5)
        let s = fx["solve"], a = s["A"].tensor
        expectClose(try a.solve(s["b"].tensor), s["x"].tensor, rtol: 1e-4, atol: 1e-5)
        expectClose(try a.solve(s["B"].tensor), s["X"].tensor, rtol: 1e-4, atol: 1e-5)
        expectClose(try a.inverse(), s["inv"].tensor, rtol: 1e-4, atol: 1e-5)
        let singular = try Tensor(rows: [[1, 2], [2, 4]])
        #expect(throws: CoreError.self) { try singular.inverse() }
        #expect(throws: CoreError.self) { try singular.solve(Tensor([1, 1])) }
        #expect(throws: CoreError.lapack(routine: "spotrf", info: 2, message: "the matrix is not positive definite (leading minor of order 2)")) {
            try singular.cholesky()
        }
        #expect(try Tensor(rows: [[4]]).cholesky() == (try Tensor(rows: [[2]])))
    }

    @Test(arguments: ["spd", "general", "negative", "big", "singular", "one"])
    func slogdetMatchesNumpy(name: String) throws {
        let f = fx["slogdet"][name]
        let (sign, l) = try f["A"].tensor.slogdet()
        #expect(sign == f["sign"].double)
        expectClose(l, f["logabsdet"].double, rtol: 1e-5, atol: 1e-5)
    }

    @Test func normsMatchNumpy() throws {
        let f = fx["norm"], m = f["M"].tensor, v = f["v"].tensor
        expectClose(try m.norm(), f["fro"].double)
        expectClose(try m.norm(.nuclear), f["nuc"].double)
        expectClose(try m.norm(.p(2)), f["two"].double)
        expectClose(try m.norm(.p(1)), f["one"].double)
        expectClose(try m.norm(.p(.infinity)), f["inf"].double)
        expectClose(try v.norm(.p(1)), f["v1"].double)
        expectClose(try v.norm(.p(2)), f["v2"].double)
        expectClose(try v.norm(.p(.infinity)), f["vinf"].double)
        expectClose(try v.norm(.p(0)), f["v0"].double)
        expectClose(try v.norm(.p(3)), f["v3"].double)
        expectClose(try Tensor.eye(3).trace(), 3)
    }

    @Test func pcaMatchesScikitLearn() throws {
        let f = fx["pca"]
        let p = try f["X"].tensor.pca(3)
        expectClose(p.components, f["components"].tensor, atol: 1e-4)
        expectClose(p.scores, f["scores"].tensor, rtol: 1e-4, atol: 1e-4)
        expectClose(p.explainedVariance, f["explained_variance"].tensor, rtol: 1e-4)
    }
}
